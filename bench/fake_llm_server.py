"""The fake OpenAI-compatible server (tests/support/fake_llm.py) as a process of
its own for the bench: every answer streams ``TOKENS`` tokens over ``SECONDS``.

    python -m bench.fake_llm_server PORTFILE [TOKENS] [SECONDS]

writes its port to PORTFILE once it listens, then serves until ended.
"""

import sys
import threading
from pathlib import Path

from tests.support import http
from tests.support.fake_llm import FakeOpenAIServer


def main() -> None:
    port_file = Path(sys.argv[1])
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    # Hundreds of jobs connect at once: socketserver's default backlog of 5 would drop SYNs.
    http._Server.request_queue_size = 2048
    server = FakeOpenAIServer().start()
    server.set_default(content="".join(f"tok{i} " for i in range(tokens)), token_delay=seconds / tokens)
    port_file.write_text(str(server.port))
    threading.Event().wait()


if __name__ == "__main__":
    main()

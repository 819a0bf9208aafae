# One image for the API, the workers and Flower (docker-compose.yml picks the command).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user owns the job files; the named volume inherits this ownership.
RUN useradd --create-home --uid 10001 longrun \
 && mkdir -p /var/lib/longrun/artifacts \
 && chown longrun:longrun /var/lib/longrun/artifacts

# Browser jobs drive Debian's chromium (Playwright never downloads a browser).
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
RUN pip install ".[flower,browser,streams]"

USER longrun
EXPOSE 8000
CMD ["gunicorn", "api.wsgi:app", "-c", "gunicorn.conf.py"]

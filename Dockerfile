# The idm-secretariat application image: gunicorn for the web, the same image for Celery worker
# and beat (see docker-compose.yml). Configuration comes from the environment at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:$PATH" \
    STATIC_ROOT=/app/staticfiles \
    VAR_DIR=/var/lib/idm

RUN pip install "uv==0.13.9"

RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

COPY . .

# Static files are part of the image. DEBUG off needs SECRET_KEY and ALLOWED_HOSTS to start:
# dummy values, for this step only; the real ones come with the container's environment.
# VAR_DIR points at a scratch folder so that the build leaves nothing under the real one.
RUN DEBUG=false \
    SECRET_KEY=collectstatic-at-build-time-only \
    ALLOWED_HOSTS=localhost \
    VAR_DIR=/tmp/idm-build \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/idm-build

# VAR_DIR (uploads under media/, mail files) is a volume at run time; a new volume takes this
# folder's owner, so the application user can write to it.
RUN mkdir -p /var/lib/idm/media && chown -R app:app /var/lib/idm

USER app

EXPOSE 8000

CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]

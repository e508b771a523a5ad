FROM python:3.11-slim

# PYTHONFAULTHANDLER: a crash in C code (libpq, OpenSSL) still logs every thread's traceback.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1 COMPTOIR_ENV=production \
    PORT=8000
WORKDIR /app
RUN useradd --create-home --uid 10001 comptoir

COPY pyproject.toml README.md ./
COPY app.py config.py extensions.py ./
COPY commerce commerce
COPY storefront storefront
COPY fulfilment fulfilment
COPY licensing licensing
COPY templates templates
COPY static static
COPY migrations migrations
COPY translations translations
RUN pip install --no-cache-dir -e . && pybabel compile -d translations

USER comptoir
EXPOSE 8000
# `comptoir serve`: gunicorn gthread workers (4 threads each), set up per worker after the fork.
CMD ["sh", "-c", "comptoir db upgrade && exec comptoir serve --host 0.0.0.0 --port \"${PORT}\" --workers 4"]

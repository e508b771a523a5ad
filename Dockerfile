FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 COMPTOIR_ENV=production PORT=8000
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
CMD ["sh", "-c", "comptoir db upgrade && exec gunicorn --bind 0.0.0.0:${PORT} --workers 4 --worker-class gthread --threads 4 --access-logfile - 'app:create_app()'"]

# One image for every pacsweb process; docker-compose.yml picks the command.
FROM node:20-bookworm-slim AS viewer
WORKDIR /src/frontend
COPY frontend/ ./
RUN if [ -f package.json ]; then npm ci --no-audit --no-fund && npm run build; else mkdir -p ../static/viewer; fi

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PACSWEB_VAR_DIR=/data \
    PACSWEB_HTTP_HOST=0.0.0.0 \
    PACSWEB_DICOM_HOST=0.0.0.0
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=viewer /src/static/viewer ./static/viewer
RUN useradd --system --uid 1000 --home-dir /data pacsweb \
    && mkdir -p /data && chown pacsweb /data \
    && DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput
USER pacsweb
VOLUME ["/data"]
EXPOSE 8000 11112
CMD ["gunicorn", "--config", "pacsweb/gunicorn.conf.py", "pacsweb.wsgi"]

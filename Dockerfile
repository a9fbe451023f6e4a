FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server server
COPY plugins plugins
COPY workers workers
COPY migrations migrations
RUN pip install --no-cache-dir . && useradd --create-home movierec && mkdir /data && chown movierec /data
USER movierec
ENV MOVIEREC_DATA_DIR=/data
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--worker-class", "gthread", "--threads", "4", "server:create_app()"]

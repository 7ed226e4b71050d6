# syntax=docker/dockerfile:1
# The demo app: Streamlit plus the TensorFlow Lite runtime (ai-edge-litert), without
# TensorFlow, ZenML, MLflow or PyTorch, so the image stays small. It serves a .tflite
# model file and composes sentences with the model-free `plain` backend (the T5 backend
# needs transformers and torch: add them to APP_PACKAGES).
#   docker build -f docker/app.Dockerfile -t REGISTRY/islr-app:TAG .
#   docker run -p 8501:8501 -v "$PWD/outputs/export:/models:ro" -v "$PWD/data:/data:ro" \
#       REGISTRY/islr-app:TAG
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    HF_HUB_OFFLINE=1 \
    ISLR_APP_MODEL=/models/model.tflite \
    ISLR_APP_DATA=/data \
    ISLR_APP_COMPOSER_BACKEND=plain \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN python -m venv /opt/venv

WORKDIR /app

# Only the packages the app needs at run time, at the versions of constraints.txt (the
# tested set; pip takes their dependencies' versions from it too).
# great-expectations validates uploaded recordings; add mlflow to serve the registry's
# champion instead of a mounted file.
ARG APP_PACKAGES="streamlit ai-edge-litert numpy pandas pyarrow pydantic pyyaml tqdm great-expectations matplotlib"
COPY constraints.txt ./
# hadolint ignore=SC2086
RUN pip install --no-cache-dir -c constraints.txt $APP_PACKAGES

COPY pyproject.toml README.md ./
COPY islr ./islr
COPY app ./app
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 1000 --user-group --shell /bin/bash islr \
    && chown -R 1000:1000 /app
# Numeric, so Kubernetes can enforce runAsNonRoot without resolving names.
USER 1000:1000

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
# Inside a container the app must listen on all interfaces to be reachable through the
# published port; outside one, bind it to 127.0.0.1.
CMD ["streamlit", "run", "app/main.py", "--server.address=0.0.0.0", "--server.port=8501", \
     "--server.headless=true", "--browser.gatherUsageStats=false"]

# syntax=docker/dockerfile:1
# The training image: what every ZenML step pod and every TFJob worker runs.
#   docker build -f docker/train.Dockerfile -t REGISTRY/islr-train:TAG .
# TensorFlow comes from the `gpu` extra (tensorflow[and-cuda]), whose wheels bring the
# CUDA and cuDNN libraries, so a slim Python base is enough; the node's NVIDIA driver
# is mounted by the container runtime. Every version comes from constraints.txt.
FROM python:3.11.13-slim-bookworm

# ZENML_INTEGRATIONS: the stack's integrations installed here, so ZenML can run this
# image as is (install_stack_requirements: false in configs/cluster.yaml). Use
# "kubernetes gcp" for GCS, "kubeflow s3" for a Kubeflow orchestrator, and so on.
# TensorFlow reads gs:// shards itself; for s3:// (which needs tensorflow-io, built only
# up to TF 2.16) a TFJob worker copies the shards to its disk first with the s3
# integration's s3fs (`islr cluster worker`, islr.cluster.staging).
ARG ZENML_INTEGRATIONS="kubernetes s3"
ARG ISLR_TF_EXTRA=gpu
# The DVC remote's storage plugin (s3, gs, azure), for `dvc pull` on the cluster.
ARG DVC_REMOTE=s3

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ZENML_ANALYTICS_OPT_IN=false \
    DVC_NO_ANALYTICS=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    HF_HUB_OFFLINE=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN python -m venv /opt/venv

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml or
# constraints.txt changes. The requirements (ranges) are read from pyproject.toml, the
# exact versions from constraints.txt, which also constrains the stack integrations and
# the DVC plugin, so none of them can move a tested package.
COPY pyproject.toml constraints.txt docker/pyproject_requirements.py ./
RUN python pyproject_requirements.py pyproject.toml --extra "$ISLR_TF_EXTRA" \
        > /tmp/requirements.txt \
    && rm pyproject_requirements.py
# hadolint ignore=SC2086
RUN pip install --no-cache-dir -r /tmp/requirements.txt -c constraints.txt \
    && zenml integration export-requirements $ZENML_INTEGRATIONS \
        --output-file /tmp/stack-requirements.txt \
    && pip install --no-cache-dir -r /tmp/stack-requirements.txt -c constraints.txt \
    && pip install --no-cache-dir "dvc[${DVC_REMOTE}]" -c constraints.txt \
    && rm /tmp/requirements.txt /tmp/stack-requirements.txt

# The project itself (its dependencies are already there): pip installs the islr
# library; steps/ and pipelines/ stay here in /app, the source root ZenML imports them
# from (its step entrypoint works in /app and puts it on sys.path).
COPY README.md ./
COPY islr ./islr
COPY steps ./steps
COPY pipelines ./pipelines
COPY configs ./configs
# The DVC pointer and remote config, so a pod can `dvc pull` the data version it names.
COPY data.dvc ./
COPY .dvc/config ./.dvc/config
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 1000 --user-group --shell /bin/bash islr \
    && chown -R 1000:1000 /app

# ZenML downloads the pipeline's code into the working directory at run time; the
# unprivileged user owns it, and nothing runs as root.
# Numeric, so Kubernetes can enforce runAsNonRoot without resolving names.
USER 1000:1000
ENV ZENML_CONFIG_PATH=/home/islr/.config/zenml
CMD ["islr", "--help"]

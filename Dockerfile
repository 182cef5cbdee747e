# The repwatch image for docker-compose.yml: Airflow, the library, the DAGs and the demo, from
# the pinned requirements. One image runs every Airflow component and the demo review site.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    GX_ANALYTICS_ENABLED=False

# CJK fonts for the Chinese reviews in charts and word clouds; curl for the health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk curl \
    && rm -rf /var/lib/apt/lists/*

# The same user id as Airflow's official image (AIRFLOW_UID); group 0 as there.
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow airflow \
    && mkdir -p /opt/airflow/logs /opt/repwatch/data \
    && chown -R airflow:0 /opt/airflow /opt/repwatch

WORKDIR /opt/repwatch

# Dependencies first: a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY --chown=airflow:0 . .
RUN pip install --no-deps -e .

USER airflow

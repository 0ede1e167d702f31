"""Job metrics for Prometheus, computed at scrape time from the ``job_queue`` mirror.

Workers are separate processes: a counter they increment is invisible to the web process that
serves ``/metrics``. The mirror is what every process writes, so a scrape reads it instead —
two cheap queries (counts grouped by state and class; the rows that started or finished in the
last hour, plus the oldest queued job per pool):

- ``cbi_jobs{state,job_class}`` (gauge): jobs in each state, zeros included.
- ``cbi_job_queue_lag_seconds{pool}`` (gauge): now minus ``enqueued_at`` of the pool's oldest
  ``queued`` job; 0 when nothing waits.
- ``cbi_job_failures_total{job_class}`` (counter): jobs that failed at least one attempt (a
  ``last_error`` is kept once written). It only goes down when job rows are purged.
- ``cbi_job_run_seconds{job_class}`` (gauge histogram): run time (``finished_at - started_at``)
  of the jobs that finished done or failed **in the last hour**; bucket counts are computed at
  scrape time, so they go down as jobs age out of the hour: read them directly
  (``histogram_quantile(0.95, cbi_job_run_seconds_bucket)``), not through ``rate()``.
- ``cbi_job_queue_wait_seconds{pool}`` (gauge histogram): ``started_at - enqueued_at`` of the
  jobs that started in the last hour (how long they waited for a worker).
- ``cbi_job_metrics_up`` (gauge): 1, or 0 when the database could not be read (then the other
  series are left out rather than reported as zeros).

No tenant label: the series are the operator's (cardinality and privacy both say so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from portal.models import JobRecord, utcnow
from portal.queue.states import JobState
from portal.specs.jobs import JobClass, Pool

log = logging.getLogger(__name__)

#: The window of the gauge histograms.
WINDOW = timedelta(hours=1)
#: Seconds: interactive runs take seconds, scheduled reports minutes.
RUN_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
WAIT_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands stored times back naive; they are UTC.
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _buckets(values: Sequence[float], bounds: Sequence[float]) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs, ``+Inf`` last, as Prometheus histograms expect."""
    out = [(repr(float(b)), float(sum(1 for v in values if v <= b))) for b in bounds]
    out.append(("+Inf", float(len(values))))
    return out


class JobMetricsCollector(Collector):
    """A prometheus_client collector reading the job mirror of one metadata database per scrape."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    def describe(self) -> list[Metric]:
        """Nothing up front: registering the collector must not query the database."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The job series (see the module); ``cbi_job_metrics_up`` 0 if the database is away."""
        up = GaugeMetricFamily("cbi_job_metrics_up", "1 if the job metrics could be read from the database")
        try:
            families = self._families()
        except SQLAlchemyError:
            log.exception("job metrics: the job store could not be read")
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _families(self) -> list[Metric]:
        now = _aware(self.clock()) or utcnow()
        since = now - WINDOW
        with self.sessions() as session:
            counts = session.execute(
                select(
                    JobRecord.status, JobRecord.job_class, func.count(), func.count(JobRecord.last_error)
                ).group_by(JobRecord.status, JobRecord.job_class)
            ).all()
            oldest = session.execute(
                select(JobRecord.pool, func.min(JobRecord.enqueued_at))
                .where(JobRecord.status == JobState.QUEUED.value)
                .group_by(JobRecord.pool)
            ).all()
            recent = session.execute(
                select(
                    JobRecord.job_class,
                    JobRecord.pool,
                    JobRecord.status,
                    JobRecord.enqueued_at,
                    JobRecord.started_at,
                    JobRecord.finished_at,
                ).where(or_(JobRecord.finished_at >= since, JobRecord.started_at >= since))
            ).all()

        jobs = GaugeMetricFamily("cbi_jobs", "Jobs by state and class", labels=["state", "job_class"])
        failures = CounterMetricFamily(
            "cbi_job_failures", "Jobs that failed at least one attempt, by class", labels=["job_class"]
        )
        by_key = {(str(s), str(c)): int(n) for s, c, n, _ in counts}
        failed_by_class: dict[str, int] = {}
        for _, cls, _, errors in counts:
            failed_by_class[str(cls)] = failed_by_class.get(str(cls), 0) + int(errors)
        classes = sorted({c.value for c in JobClass} | {c for _, c in by_key})
        for state in JobState:
            for cls in classes:
                jobs.add_metric([state.value, cls], float(by_key.get((state.value, cls), 0)))
        for cls in classes:
            failures.add_metric([cls], float(failed_by_class.get(cls, 0)))

        lag = GaugeMetricFamily(
            "cbi_job_queue_lag_seconds", "Age of the oldest queued job per pool", labels=["pool"]
        )
        ages = {
            str(p): max(0.0, (now - t).total_seconds()) for p, t in ((p, _aware(t)) for p, t in oldest) if t
        }
        for pool in sorted({p.value for p in Pool} | set(ages)):
            lag.add_metric([pool], ages.get(pool, 0.0))

        runs: dict[str, list[float]] = {c: [] for c in classes}
        waits: dict[str, list[float]] = {p.value: [] for p in Pool}
        for cls, pool, status, enqueued, started, finished in recent:
            begin, end, queued = _aware(started), _aware(finished), _aware(enqueued)
            if (
                begin is not None
                and end is not None
                and end >= since
                and status in (JobState.DONE.value, JobState.FAILED.value)
                and end >= begin
            ):
                runs.setdefault(str(cls), []).append((end - begin).total_seconds())
            if begin is not None and queued is not None and begin >= since and begin >= queued:
                waits.setdefault(str(pool), []).append((begin - queued).total_seconds())
        run_hist = GaugeHistogramMetricFamily(
            "cbi_job_run_seconds",
            "Run time of the jobs finished (done or failed) in the last hour, by class",
            labels=["job_class"],
        )
        for cls, values in sorted(runs.items()):
            run_hist.add_metric([cls], _buckets(values, RUN_BUCKETS), sum(values))
        wait_hist = GaugeHistogramMetricFamily(
            "cbi_job_queue_wait_seconds",
            "Time from enqueued to started of the jobs started in the last hour, by pool",
            labels=["pool"],
        )
        for pool, values in sorted(waits.items()):
            wait_hist.add_metric([pool], _buckets(values, WAIT_BUCKETS), sum(values))
        return [jobs, lag, failures, run_hist, wait_hist]

import datetime as dt

from careseal.queue.retry import next_attempt_at

QUEUED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SCHEDULE = (300, 600, 3600)
FIVE_DAYS = 5 * 86400


def test_first_deferral_waits_first_delay() -> None:
    now = QUEUED + dt.timedelta(seconds=10)

    assert next_attempt_at(attempts=1, now=now, queued_at=QUEUED, schedule=SCHEDULE,
                           max_queue_age=FIVE_DAYS) == now + dt.timedelta(seconds=300)


def test_last_delay_repeats() -> None:
    now = QUEUED + dt.timedelta(hours=5)

    assert next_attempt_at(attempts=9, now=now, queued_at=QUEUED, schedule=SCHEDULE,
                           max_queue_age=FIVE_DAYS) == now + dt.timedelta(seconds=3600)


def test_last_try_lands_on_deadline() -> None:
    now = QUEUED + dt.timedelta(seconds=FIVE_DAYS - 60)

    assert next_attempt_at(attempts=9, now=now, queued_at=QUEUED, schedule=SCHEDULE,
                           max_queue_age=FIVE_DAYS) == QUEUED + dt.timedelta(seconds=FIVE_DAYS)


def test_deferral_after_deadline_gives_up() -> None:
    now = QUEUED + dt.timedelta(seconds=FIVE_DAYS)

    assert next_attempt_at(attempts=9, now=now, queued_at=QUEUED, schedule=SCHEDULE,
                           max_queue_age=FIVE_DAYS) is None

"""The progress throttle: which reports go out (plain function, no Celery)."""

from dashboard.live.throttle import ProgressThrottle


def test_first_report_always_goes_out():
    assert ProgressThrottle(10).should_send(1, 100, now=0.0)


def test_reports_within_the_interval_are_suppressed_but_the_final_one_is_not():
    throttle = ProgressThrottle(0.2)
    assert throttle.should_send(1, 100, now=0.0)
    assert not throttle.should_send(50, 100, now=0.1)
    assert throttle.should_send(100, 100, now=0.11)
    assert throttle.suppressed == 1


def test_after_the_interval_a_report_goes_out_only_if_percent_or_message_changed():
    throttle = ProgressThrottle(0.2)
    assert throttle.should_send(10, 1000, "a", now=0.0)
    assert not throttle.should_send(11, 1000, "a", now=0.5)  # still 1%
    assert throttle.should_send(11, 1000, "b", now=0.6)  # message changed
    assert throttle.should_send(30, 1000, "b", now=0.9)  # 3%


def test_a_tight_loop_of_100000_reports_sends_only_a_handful():
    throttle = ProgressThrottle(0.2)
    sent = sum(throttle.should_send(i, 100_000, now=i * 1e-6) for i in range(1, 100_001))
    # 0.1 simulated seconds: the first report and the final one
    assert sent == 2

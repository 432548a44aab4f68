"""read_ahead: the order, the errors and an early stop are the consumer's, as without the thread."""

import threading
import time

import pytest

from colorlab.core.threads import read_ahead


def test_items_come_in_order_and_are_produced_ahead():
    produced = []

    def items():
        for i in range(20):
            produced.append(i)
            yield i

    consumed = []
    for item in read_ahead(items(), depth=3):
        if item == 0:
            time.sleep(0.2)  # the producer fills the buffer meanwhile, and no further
            assert 3 <= len(produced) <= 5
        consumed.append(item)
    assert consumed == list(range(20))


def test_a_producer_error_is_raised_in_the_consumer_after_the_good_items():
    def items():
        yield 1
        yield 2
        raise OSError("broken.jpg: truncated")

    got = []
    with pytest.raises(OSError, match="broken.jpg"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_stops_the_producer():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    for item in read_ahead(endless(), depth=2):
        if item == 5:
            break
    time.sleep(0.3)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 9
    assert not any(t.name == "read-ahead" for t in threading.enumerate())


def test_stopping_after_the_producer_finished_ends_it_too():
    exhausted = threading.Event()

    def two():
        yield 1
        yield 2
        exhausted.set()  # asked for a third item: 2 is in the full buffer, the end marker comes next

    stream = read_ahead(two(), depth=1)
    assert next(stream) == 1
    assert exhausted.wait(5)
    stream.close()  # the consumer stops while the producer waits to hand over its end marker
    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())

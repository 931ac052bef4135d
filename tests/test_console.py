"""What a pair job says on the console (nst.shard.console): where it is, at a pace
bounded both ways whatever a step takes, and a line per finished pair."""

import re
import time

from conftest import runner
from nst.shard.console import Console


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_where_lines_come_at_most_every_10_s_and_at_least_every_minute():
    """A minute of 0.1 s steps, then one step of five minutes, ticking every second as
    the ticker thread does: lines spaced by the console's pace, none closer than 10 s,
    none further than 60 s apart, also during the long step."""
    clock, said = Clock(), []
    console = Console("abc", write=lambda line: said.append((clock.now, line)), clock=clock)
    console.total = 3
    for step in range(1, 601):
        clock.now += 0.1
        console.now(f"s/c0, stage 1/1 at 40x30, step {step}/600")
        if step % 10 == 0:
            console.tick()
    for _ in range(300):  # the long step: the thread goes on ticking
        clock.now += 1
        console.tick()
    times = [t for t, _ in said]
    gaps = [b - a for a, b in zip([0.0, *times], times)]
    assert len(said) >= 5 and all(10 <= gap <= 60 for gap in gaps), gaps
    assert said[0][1].startswith("[shard abc] 0/3 pairs done; now s/c0, stage 1/1 at 40x30, step")
    assert said[-1][1].endswith("step 600/600")  # where the long step is, still said


def test_the_ticker_speaks_while_the_job_is_busy():
    said = []
    with Console("abc", every=0.5, write=said.append) as console:
        console.now("loading vgg19")
        time.sleep(2.5)  # a phase with nothing else to say
    assert 2 <= len(said) <= 5
    assert all(line == "[shard abc] 0/0 pairs done; now loading vgg19" for line in said)


def test_a_job_says_its_work_where_it_is_and_each_finished_pair(shard_setup):
    settings, pairs, weights, _ = shard_setup
    said, doing = [], []

    class Recording(Console):
        def now(self, what):
            doing.append(what)
            super().now(what)

    job = runner(settings, weights)
    job.job.console = Recording("abc", write=said.append)
    job.run(pairs[:2])
    assert said[0] == "[shard abc] 2 pairs: 0 already done, 2 to run"
    for i, line in enumerate(said[1:]):
        assert line.startswith(f"[shard abc] done s/c{i} in ")
        assert re.search(r" s: style score [0-9.]+, content score [0-9.]+ ", line), line
        assert line.endswith(f"({i + 1}/2)")
    assert len(said) == 3
    assert "s/c0, stage 1/1 at 40x30, step 6/6" in [d.split(" (")[0] for d in doing]

    job.job.console = Recording("abc", write=said.append)
    said.clear()
    job.run(pairs[:2])  # all kept: no line per pair
    assert said == ["[shard abc] 2 pairs: 2 already done, 0 to run"]

"""The run's length changes in one place (``Schedule``), where the run stands is one
object (``RunState``), and the loop and loggers read the rate one way."""

from __future__ import annotations

import pytest
import torch

from resdepth.recipes import get_recipe
from resdepth.training import RunState, Schedule, current_learning_rate
from resdepth.training.distributed import fewest_batches


def _schedule(epochs: int) -> Schedule:
    net = torch.nn.Linear(2, 2)
    recipe = get_recipe("as1", epochs=epochs)
    return Schedule(recipe, recipe.build_optimizer(net))


def _step(schedule: Schedule, steps: int) -> None:
    for _ in range(steps):
        schedule.optimizer.step()
        schedule.scheduler.step()


@pytest.mark.parametrize(("old", "new", "taken"), [(4, 8, 3), (10, 6, 5), (5, 5, 2)])
def test_a_changed_length_continues_as_if_planned_so_from_the_start(
    old: int, new: int, taken: int
) -> None:
    changed, planned = _schedule(old), _schedule(new)
    changed.start(steps_per_epoch=1)
    planned.start(steps_per_epoch=1)
    _step(changed, taken)
    _step(planned, taken)
    note = changed.change_length(1, new)
    assert note == ("" if old == new else f"length {old} -> {new} epochs")
    assert changed.epochs == new
    for _ in range(new - taken):
        assert current_learning_rate(changed.optimizer) == pytest.approx(
            current_learning_rate(planned.optimizer), rel=1e-12
        )
        _step(changed, 1)
        _step(planned, 1)


def test_the_shortest_length_a_warm_up_allows() -> None:
    net = torch.nn.Linear(2, 2)
    recipe = get_recipe("airbench94")
    schedule = Schedule(recipe, recipe.build_optimizer(net))
    schedule.start(steps_per_epoch=2)
    assert schedule.shortest_length(2, 1) >= 1
    assert schedule.epochs == schedule.shortest_length(2, schedule.epochs)


def test_run_state_round_trips_and_describes_itself() -> None:
    state = RunState()
    progress = state.begin_epoch(0, 0.1, torch.device("cpu"))
    progress.step, state.steps_run = 3, 3
    again = RunState()
    again.load_state_dict(state.state_dict(), torch.device("cpu"))
    assert (again.epoch, again.steps_run, again.position()) == (0, 3, "epoch 1 up to batch 3")
    assert again.started and not RunState().started
    state.add_note("a")
    state.finish_epoch()
    assert (state.epoch, state.progress, state.note) == (1, None, "")


def test_outside_torchrun_the_fewest_batches_are_ones_own() -> None:
    assert fewest_batches(7, torch.device("cpu")) == 7

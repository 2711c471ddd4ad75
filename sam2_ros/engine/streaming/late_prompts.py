"""A prompt on an older frame still in the history: applied there, and its object alone tracked
again up to the newest frame, exactly as if the prompt had arrived right after that frame was
tracked; on failure the object is put back as it was (the other objects are never touched)."""

from __future__ import annotations

from sam2_ros.engine.streaming.history import HistoryFrame
from sam2_ros.engine.streaming.prompts import Prompt
from sam2_ros.engine.streaming.records import ObjectOutput
from sam2_ros.engine.streaming.steps import FrameSteps


def repropagate(
    steps: FrameSteps, entry: HistoryFrame, object_id: int, prompt: Prompt
) -> ObjectOutput:
    """Apply ``prompt`` on an older frame and track its object alone from there to the newest
    frame, replaying the prompts it got on each frame; its answer on the prompted frame.

    Every step is the one the object would have gone through had the prompt arrived right
    after that frame was tracked, so its outputs, memory bank and history end up the same.
    On failure the object is put back as it was.
    """
    state = steps.state
    order = list(state.outputs)
    live = (
        state.bank.snapshot(object_id),
        state.outputs.get(object_id),
        state.pending.get(object_id),
        [
            (e, e.states.get(object_id), e.answers.get(object_id))
            for e in state.history.after(entry.frame.index)
        ],
    )
    try:
        return _replay(steps, entry, object_id, prompt)
    except Exception:
        memory, output, pending, states = live
        state.bank.restore(object_id, memory)
        _put(state.outputs, object_id, output)
        _put(state.pending, object_id, pending)
        for later, object_state, answer in states:
            _put(later.states, object_id, object_state)
            _put(later.answers, object_id, answer)
        raise
    finally:  # objects keep the order they were added in
        order += [i for i in state.outputs if i not in order]
        state.outputs = {i: state.outputs[i] for i in order if i in state.outputs}


def _replay(steps: FrameSteps, entry: HistoryFrame, object_id: int, prompt: Prompt) -> ObjectOutput:
    """The object back to its state on ``entry``'s frame, that frame's prompts and ``prompt``
    applied, then each later frame tracked and prompted again for it alone."""
    state = steps.state
    before = entry.states.get(object_id)
    state.bank.restore(object_id, None if before is None else before.memory)
    _put(state.outputs, object_id, None if before is None else before.output)
    state.pending.pop(object_id, None)
    for earlier in entry.prompts.get(object_id, []):
        steps.apply_prompt(entry.frame, object_id, earlier)
    answer = steps.apply_prompt(entry.frame, object_id, prompt)
    previous = entry.frame
    for later in state.history.after(entry.frame.index):
        steps.commit_pending(previous, [object_id])
        tracked = steps.track_objects(later.frame, [object_id])
        state.outputs[object_id] = tracked[object_id]
        state.bank.release_unreachable(later.frame.index, [object_id])
        later.states[object_id] = state.object_state(object_id)
        for earlier in later.prompts.get(object_id, []):
            later.answers[object_id] = steps.apply_prompt(later.frame, object_id, earlier)
        previous = later.frame
    return answer


def _put(values: dict, key: int, value: object | None) -> None:
    """``values[key] = value``; None removes the key."""
    if value is None:
        values.pop(key, None)
    else:
        values[key] = value

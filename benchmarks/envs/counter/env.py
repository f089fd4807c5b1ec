"""The benchmark's trivial environment: the same one-counter tool as benchmarks/bare_server.py, under the contract."""

from registry.contract import EnvState, ToolError


class State(EnvState):
    value: int = 0


def incr(state: State, by: int = 1) -> dict:
    if by == 0:
        raise ToolError("by must not be 0")
    state.value += by
    return {"value": state.value}


def get(state: State) -> dict:
    return {"value": state.value}

"""`inspect --plot`: every heatmap has its own colour bar, and the time axis is labelled."""

from __future__ import annotations

import pytest

from conftest import invoke
from lstmcli.analysis import inspection, plot


@pytest.mark.parametrize("inputs", [["hell"], ["hell", "ohel", "lleh"]])
def test_every_panel_has_a_colour_bar_and_the_bottom_row_a_time_axis(hello_run, inputs) -> None:
    target = inspection.resolve_target(str(hello_run))
    result = inspection.inspect(target, inputs, gates=True)
    fig = plot.inspect_figure(result)
    panels = [ax for ax in fig.axes if ax.images]
    bars = [ax for ax in fig.axes if not ax.images]
    states = ["i", "f", "g", "o", "c", "h"]
    assert len(panels) == len(inputs) * len(states)
    assert len(bars) == len(panels)  # one colour bar per panel, drawn from its own image
    assert all(ax.images[0].colorbar is not None for ax in panels)
    gates = [ax.images[0].colorbar for ax in panels[: len(states)]]
    assert [(bar.vmin, bar.vmax) for bar in gates] == [(0, 1), (0, 1), (-1, 1), (0, 1), (-1, 1), (-1, 1)]
    bottom = panels[-len(states) :]
    assert all(ax.get_xlabel() == "time step (token)" for ax in bottom)
    assert [ax.get_title() for ax in panels[: len(states)]] == states


def test_the_png_is_written(runner, hello_run, tmp_path) -> None:
    png = tmp_path / "gates.png"
    result = invoke(runner, "inspect", hello_run, "--input", "hell", "--plot", png)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""Tables that fit the terminal (80 columns and up) without losing a column.

rich shrinks a table that is too wide by folding every column, which breaks instance ids over
three lines, cuts names mid-word and finally drops columns. These tables decide the widths
themselves: short columns (statuses, times) keep their natural width, ids are shortened in
the middle (both ends stay recognisable: a prefix and the distinguishing tail), names keep
their end (the extension) and lose their middle, and only the reason column wraps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

Kind = Literal["fixed", "id", "name", "reason"]
GAP = 2  # box.SIMPLE_HEAD without edges, padding collapsed: two cells apart
MIN_ID = 11  # "img-3…e9ab1": a prefix, the ellipsis and a tail to tell ids apart
MIN_NAME = 10
MIN_REASON = 8
REASON_SHARE = 12  # at least what the reason keeps before ids and names lose their middle


def middle(text: str, width: int) -> str:
    """`text` in at most `width` cells, its middle replaced by '…' when it is longer."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head_cells = (width - 1 + 1) // 2
    tail_cells = width - 1 - head_cells
    head, tail = "", ""
    for ch in text:
        if cell_len(head + ch) > head_cells:
            break
        head += ch
    for ch in reversed(text):
        if cell_len(ch + tail) > tail_cells:
            break
        tail = ch + tail
    return head + "…" + tail


@dataclass
class Column:
    header: str
    kind: Kind = "fixed"
    justify: Literal["left", "right"] = "left"
    cells: list[Text] = field(default_factory=list)

    def natural(self) -> int:
        return max([cell_len(self.header)] + [cell_len(c.plain) for c in self.cells])


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def widths(columns: Sequence[Column], width: int) -> list[int]:
    """Each column's width within `width`: natural when everything fits, else ids then names
    give up their middle (down to MIN_ID / MIN_NAME) and the reason keeps the rest (it wraps).
    """
    natural = [c.natural() for c in columns]
    avail = width - GAP * (len(columns) - 1)
    avail -= sum(n for c, n in zip(columns, natural, strict=True) if c.kind == "fixed")
    flexible = [i for i, c in enumerate(columns) if c.kind != "fixed"]
    if sum(natural[i] for i in flexible) <= avail:
        return natural
    out = list(natural)
    ids, names, reasons = ([i for i in flexible if columns[i].kind == k]
                           for k in ("id", "name", "reason"))  # fmt: skip
    share = max(REASON_SHARE, avail // 3)  # a third of the flexible room, when there is any
    left = avail - sum(min(natural[i], share) for i in reasons)
    names_natural = sum(natural[i] for i in names)
    for i in ids:  # ids first: their middle tells the least
        share = (left - names_natural) // len(ids)
        out[i] = _clamp(share, min(MIN_ID, natural[i]), natural[i])
    left -= sum(out[i] for i in ids)
    for i in names:
        out[i] = _clamp(left // len(names), min(MIN_NAME, natural[i]), natural[i])
    used = sum(out[i] for i in ids + names)
    for i in reasons:
        out[i] = max((avail - used) // len(reasons), min(natural[i], MIN_REASON))
    return out


def fitted_table(
    columns: Sequence[Column],
    width: int,
    *,
    title: str | None = None,
    caption: str | None = None,
) -> Table:
    """A rich Table of `columns` at most `width` cells wide (down to about 60 columns)."""
    sizes = widths(columns, width)
    table = Table(
        title=title, caption=caption, title_justify="left", box=box.SIMPLE_HEAD,
        show_edge=False, pad_edge=False, collapse_padding=True,
    )  # fmt: skip
    for col, size in zip(columns, sizes, strict=True):
        wraps = col.kind == "reason"
        table.add_column(col.header, width=size, justify=col.justify, no_wrap=not wraps,
                         overflow="fold" if wraps else "ellipsis")  # fmt: skip
    rows = max((len(c.cells) for c in columns), default=0)
    for r in range(rows):
        cells = []
        for col, size in zip(columns, sizes, strict=True):
            cell = col.cells[r] if r < len(col.cells) else Text("")
            if col.kind in ("id", "name") and cell_len(cell.plain) > size:
                cell = Text(middle(cell.plain, size), style=cell.style)
            cells.append(cell)
        table.add_row(*cells)
    return table

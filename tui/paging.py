"""Which pages of a forward-only, cursor-paged listing the inventory holds.

``GET /v2/namespaces`` pages forward only: each page comes with an opaque
``next_cursor``, and no cursor can be made for an arbitrary position. So
``PagedListing`` remembers the cursor that starts each page it has seen
(``cursors[k]`` starts page ``k``; one short string per page, a few kB for a million
namespaces) and holds the rows of at most ``window`` consecutive pages. Scrolling
asks for the page after the last held one or before the first; jumping to the end
follows the cursors from the last known one (``PagedListing.end`` once a page came
back without ``next_cursor``).

Cursors mark positions in name order, so a page re-read from its cursor starts where
it did. If it now ends elsewhere (namespaces created or deleted inside it), the
cursors after it are forgotten and the held pages after it dropped, rather than
leaving a gap or an overlap between pages.

Pure data, no Textual: the screen turns what ``put`` returns into table updates.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PutResult:
    """What one page changed: names that left the held pages, pages dropped."""

    vanished: list[str] = field(default_factory=list)
    dropped_pages: list[int] = field(default_factory=list)


class PagedListing:
    def __init__(self, page_size: int, window: int) -> None:
        if page_size < 1 or window < 1:
            raise ValueError("page_size and window must be positive")
        self.page_size = page_size
        self.window = window
        self.cursors: list[str | None] = [None]
        self.end: int | None = None
        self.pages: dict[int, list[str]] = {}
        self.page_of: dict[str, int] = {}

    # -- what is known ----------------------------------------------------------------

    def known(self, k: int) -> bool:
        """Whether page ``k``'s starting cursor is known."""
        return 0 <= k < len(self.cursors) and (self.end is None or k <= self.end)

    def cursor(self, k: int) -> str | None:
        return self.cursors[k]

    @property
    def last_known(self) -> int:
        return len(self.cursors) - 1

    @property
    def lo(self) -> int | None:
        return min(self.pages) if self.pages else None

    @property
    def hi(self) -> int | None:
        return max(self.pages) if self.pages else None

    def held_names(self) -> list[str]:
        """Every held name, in listing order."""
        return [n for k in sorted(self.pages) for n in self.pages[k]]

    def position(self, name: str) -> int | None:
        """The 0-based row number of a held name (exact while every earlier page is full)."""
        k = self.page_of.get(name)
        if k is None:
            return None
        return k * self.page_size + self.pages[k].index(name)

    def approx_total(self) -> int | None:
        """The listing's length, once its last page is held; else None."""
        if self.end is None or self.end not in self.pages:
            return None
        return self.end * self.page_size + len(self.pages[self.end])

    # -- changes ----------------------------------------------------------------------

    def reset(self) -> list[str]:
        """Forget the held rows (cursors stay); returns the names dropped."""
        names = list(self.page_of)
        self.pages.clear()
        self.page_of.clear()
        return names

    def hold_first(self, names: list[str]) -> None:
        """Hold the first rows of page 0 before the whole page is read (the first
        paint); no cursor is learnt from them, and the page's ``put`` replaces them."""
        if self.pages:
            return
        self.pages[0] = list(names)
        for name in names:
            self.page_of[name] = 0

    def learn(self, k: int, next_cursor: str | None) -> None:
        """Record where page ``k + 1`` starts (from a walk; no rows held)."""
        if next_cursor is None:
            self.end = k
            del self.cursors[k + 1 :]
        elif k + 1 == len(self.cursors):
            self.cursors.append(next_cursor)
        elif self.cursors[k + 1] != next_cursor:
            self.cursors[k + 1] = next_cursor
            del self.cursors[k + 2 :]
            if self.end is not None and self.end > k:
                self.end = None

    def put(
        self, k: int, names: list[str], next_cursor: str | None, *, next_follows: bool = False
    ) -> PutResult:
        """Hold page ``k``'s names (in order). ``next_follows``: page ``k + 1`` is being
        re-read in the same pass, so a moved boundary need not drop it."""
        result = PutResult()
        moved = (k + 1 < len(self.cursors) and self.cursors[k + 1] != next_cursor) or (
            next_cursor is not None and self.end == k
        )
        self.learn(k, next_cursor)
        if moved:
            first_stale = k + 2 if next_follows else k + 1
            for j in [j for j in self.pages if j >= first_stale]:
                result.dropped_pages.append(j)
                result.vanished.extend(self._drop(j))
        if next_cursor is None:
            for j in [j for j in self.pages if j > k]:
                result.dropped_pages.append(j)
                result.vanished.extend(self._drop(j))
        old = self.pages.get(k, [])
        fresh = set(names)
        for name in names:
            other = self.page_of.get(name)
            if other is not None and other != k and other in self.pages:
                self.pages[other].remove(name)  # moved across a page boundary
            self.page_of[name] = k
        self.pages[k] = list(names)
        for name in old:
            if name not in fresh and self.page_of.get(name) == k:
                del self.page_of[name]
                result.vanished.append(name)
        for j in sorted(self.pages):
            # The window around page k; anything not contiguous with k goes too.
            if abs(j - k) >= self.window or not self._contiguous(j, k):
                result.dropped_pages.append(j)
        for j in result.dropped_pages:
            result.vanished.extend(self._drop(j))
        return result

    def _contiguous(self, j: int, keep: int) -> bool:
        step = 1 if j > keep else -1
        return all(i in self.pages for i in range(keep, j, step))

    def _drop(self, j: int) -> list[str]:
        names = self.pages.pop(j, [])
        gone = [n for n in names if self.page_of.get(n) == j]
        for n in gone:
            del self.page_of[n]
        return gone

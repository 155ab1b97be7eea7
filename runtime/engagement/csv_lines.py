"""The byte stream under the CSV parser: line endings made LF, and the records the parser would
choke on (bytes that are not UTF-8, an over-long row, a quoted value that spans lines or never
closes) set aside with their reason, so that ingest quarantines them with their real content and
physical line numbers instead of failing the file.
"""

from typing import BinaryIO, NamedTuple

import numpy as np


class SetAside(NamedTuple):
    """A record kept from the parser: why (a quarantine reason code and message) and its bytes."""

    code: str
    message: str
    record: bytes


class _CrToLf:
    """A file whose lines end in CR alone (classic Mac), read as LF lines."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self.buffer, self.rest = first.replace(b"\r", b"\n"), rest

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            data, self.buffer = self.buffer + self.rest.read().replace(b"\r", b"\n"), b""
            return data
        while len(self.buffer) < size:
            more = self.rest.read(size)
            if not more:
                break
            self.buffer += more.replace(b"\r", b"\n")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def readline(self) -> bytes:
        while b"\n" not in self.buffer:
            more = self.rest.read(1 << 16)
            if not more:
                break
            self.buffer += more.replace(b"\r", b"\n")
        cut = self.buffer.find(b"\n") + 1 or len(self.buffer)
        line, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return line


class _Prefixed:
    """`first` followed by the rest of the stream (what was read to sniff the line endings)."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self.first, self.rest = first, rest

    def read(self, size: int = -1) -> bytes:
        if not self.first:
            return self.rest.read(size)
        if size < 0:
            data, self.first = self.first + self.rest.read(), b""
            return data
        data, self.first = self.first[:size], self.first[size:]
        return data

    def readline(self) -> bytes:
        line = b""
        while self.first:
            cut = self.first.find(b"\n") + 1
            if cut:
                line, self.first = line + self.first[:cut], self.first[cut:]
                return line
            line, self.first = line + self.first, b""
        return line + self.rest.readline()


def with_lf_line_endings(source: BinaryIO, block_bytes: int) -> tuple[BinaryIO, str | None]:
    """LF and CRLF files pass through; a file with CR line endings and no LF is read as LF lines
    (and the warning that says so is returned)."""
    first = source.read(min(block_bytes, 1 << 20))
    if b"\r" in first and b"\n" not in first:
        return _CrToLf(first, source), "lines end in CR alone (classic Mac); read as line breaks"
    return _Prefixed(first, source), None


class LineGuard:
    """Passes the CSV through a block at a time, keeping from the parser the records it would
    choke on: a line with bytes that are not UTF-8, a line longer than `max_row` (the parser fails
    the whole file on a row longer than its block), and a quoted value that is never closed or
    that spans lines (values may not contain line breaks). Such a record is replaced by one empty
    line and kept, with its reason, by its first physical line number, so it is quarantined with
    its real content and counted once; the further lines of a multi-line record are left out of
    the stream altogether (`absorbed`), and `physical` maps the parser's line numbers back.
    """

    MAX_SPAN = 20  # lines a quoted value may run over before it counts as never closed

    def __init__(self, raw: BinaryIO, first_line: int, block_bytes: int) -> None:
        self.raw = raw
        self.line = first_line  # physical number of the next line to pass through
        self.block_bytes = block_bytes
        self.max_row = block_bytes // 2
        self.pending = b""
        self.open: list[tuple[int, bytes]] = []  # lines of a quoted value not closed yet
        self.output = bytearray()
        self.set_aside: dict[int, SetAside] = {}
        self.absorbed: set[int] = set()
        self._absorbed_sorted: list[int] = []
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self.output) < size) and self._fill():
            pass
        if size < 0:
            size = len(self.output)
        chunk, self.output = bytes(self.output[:size]), self.output[size:]
        return chunk

    def physical(self, parser_line: int) -> int:
        """The physical line of the parser's n-th line after the header."""
        line = parser_line + 1
        for absorbed in self._absorbed_sorted:
            if absorbed > line:
                break
            line += 1
        return line

    def _fill(self) -> bool:
        block = self.raw.read(self.block_bytes)
        if not block:
            lines = [self.pending] if self.pending else []
            self.pending = b""
            self._pass(lines, end=True)
            return False
        data = self.pending + block
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        if cut:
            self._pass(data[:cut - 1].split(b"\n"))
        return True

    def _pass(self, lines: list[bytes], end: bool = False) -> None:
        if not self.open and not end and self._all_plain(lines):
            self.output += b"\n".join(lines) + b"\n"
            self.line += len(lines)
            return
        queue = [(self.line + i, line) for i, line in enumerate(lines)]
        self.line += len(lines)
        while queue:
            number, line = queue.pop(0)
            if self.open:
                queue = self._continue_record(number, line) + queue
            elif line.count(b'"') % 2:
                self.open = [(number, line)]
            else:
                self._emit(number, line)
        if end and self.open:
            self._give_up_record(queue)
            while queue:
                self._emit(*queue.pop(0))

    def _all_plain(self, lines: list[bytes]) -> bool:
        if any(line.count(b'"') % 2 or len(line) > self.max_row for line in lines):
            return False
        return is_utf8(b"\n".join(lines))

    def _continue_record(self, number: int, line: bytes) -> list[tuple[int, bytes]]:
        """Add a line to the open quoted value; what is left to re-read if the record is given up."""
        self.open.append((number, line))
        if line.count(b'"') % 2:  # the quote closes: one record over several lines
            first, record = self.open[0][0], b"\n".join(part for _, part in self.open)
            self._keep(first, record, "embedded_newline",
                       f"a quoted value spans {len(self.open)} lines; values may not contain line breaks")
            self._absorb([n for n, _ in self.open[1:]])
            self.open = []
        elif len(self.open) > self.MAX_SPAN or sum(len(part) for _, part in self.open) > self.max_row:
            rest: list[tuple[int, bytes]] = []
            self._give_up_record(rest)
            return rest
        return []

    def _give_up_record(self, rest: list) -> None:
        """The quote never closes: its first line is the bad row; the others are read again."""
        (first, line), *others = self.open
        self.open = []
        self._keep(first, line, "unbalanced_quotes", 'the row has an unclosed quote (odd number of " characters)')
        rest[:0] = others

    def _emit(self, number: int, line: bytes) -> None:
        if not is_utf8(line):
            self._keep(number, line, "encoding", "the row has bytes that are not UTF-8")
        elif len(line) > self.max_row:
            self._keep(number, line, "row_too_long",
                       f"the row is {len(line):,} bytes; rows over {self.max_row:,} are not read")
        else:
            self.output += line + b"\n"

    def _keep(self, number: int, record: bytes, code: str, message: str) -> None:
        self.set_aside[number] = SetAside(code, message, record.rstrip(b"\r"))
        self.output += b"\n"

    def _absorb(self, numbers: list[int]) -> None:
        self.absorbed.update(numbers)
        self._absorbed_sorted = sorted(self.absorbed)


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class LineNumbers:
    """Physical line numbers of parsed rows, given the lines the parser skipped as invalid."""

    def __init__(self, first_data_line: int, absorbed: set[int]) -> None:
        self.next = first_data_line
        self.skipped: set[int] = set()
        self.absorbed = absorbed  # continuation lines of multi-line records: not rows

    def exclude(self, lines: list[int]) -> None:
        self.skipped.update(lines)

    def take(self, count: int) -> np.ndarray:
        taken = []
        while len(taken) < count:
            if self.next in self.skipped:
                self.skipped.discard(self.next)
            elif self.next not in self.absorbed:
                taken.append(self.next)
            self.next += 1
        return np.array(taken)

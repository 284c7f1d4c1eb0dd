"""The results as markdown: one section per shape, and the document around them."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from bench.floors import CpuFloor
from bench.measure import ProcessRun
from bench.s3server import Traffic
from bench.shapes import Bag

MiB = 1024 * 1024
PART = 8 * MiB  # the GET target's unit: ceil(archive / 8 MiB) + 4
STARTUP_ALLOWANCE = 0.5  # seconds of process start-up in the yardstick
TARGET_FACTOR = 1.3
RSS_TARGET = 200 * MiB
BUCKET = "bench"


@dataclass
class Run:
    process: ProcessRun
    traffic: Traffic
    verdict: str  # "valid", "invalid", "error", "timeout", "failed"
    detail: str = ""
    progress: float = 1.0  # share of the archive's member data fetched (for timed-out runs)


@dataclass
class ToolResult:
    tool: str
    runs: list[Run] = field(default_factory=list)

    @property
    def shown(self) -> Run:
        """The run with the median wall time."""
        ordered = sorted(self.runs, key=lambda r: r.process.wall_seconds)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def wall(self) -> float:
        return statistics.median(r.process.wall_seconds for r in self.runs)

    @property
    def timed_out(self) -> bool:
        return any(r.verdict == "timeout" for r in self.runs)

    @property
    def projected(self) -> float | None:
        """For a timed-out tool: its wall time extrapolated from how far into the member data it got."""
        run = self.shown
        if run.verdict != "timeout" or run.progress <= 0:
            return None
        return run.process.wall_seconds / run.progress

    @property
    def wrong(self) -> bool:
        return any(r.verdict not in ("valid", "timeout") for r in self.runs)


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def fmt_bytes(n: int) -> str:
    if n == 0:
        return "0"
    return f"{n / 1e3:,.0f} kB" if n < 1_000_000 else mb(n)


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


@dataclass
class ShapeReport:
    bag: Bag
    cpu: CpuFloor
    aggregate_mbps: float
    results: list[ToolResult] = field(default_factory=list)

    @property
    def network_floor(self) -> float:
        return self.bag.archive_bytes / (self.aggregate_mbps * 1e6)

    @property
    def yardstick(self) -> float:
        return max(self.cpu.seconds, self.network_floor) + STARTUP_ALLOWANCE

    @property
    def get_target(self) -> int:
        return math.ceil(self.bag.archive_bytes / PART) + 4

    def result(self, tool: str) -> ToolResult | None:
        return next((r for r in self.results if r.tool == tool), None)

    def floors(self) -> list[str]:
        cpu = self.cpu
        inflaters = f"zlib {cpu.zlib_one_core:.2f} s" + (
            f", isal {cpu.isal_one_core:.2f} s" if cpu.isal_one_core is not None else ""
        )
        return [
            f"- CPU floor **{cpu.seconds:.2f} s** = one core {cpu.one_core:.2f} s / {cpu.cores} cores "
            f"(inflate with {cpu.inflater}, CRC-32 and every manifest digest; one core with {inflaters})",
            f"- network floor **{self.network_floor:.2f} s** = {mb(self.bag.archive_bytes)} "
            f"/ {self.aggregate_mbps:,.0f} MB/s",
            f"- yardstick = max floor + {STARTUP_ALLOWANCE} s = **{self.yardstick:.2f} s**; "
            f"wall-time target {TARGET_FACTOR} x yardstick = **{TARGET_FACTOR * self.yardstick:.2f} s**; "
            f"GET target ceil(archive / 8 MiB) + 4 = **{self.get_target}**",
        ]

    def row(self, result: ToolResult, ours: ToolResult | None) -> str:
        run = result.shown
        traffic = run.traffic
        wall = f"{result.wall:.2f}"
        ratio = f"{result.wall / self.yardstick:.2f}x"
        if result.timed_out:
            projected = result.projected
            wall = f"> {result.wall:.0f}" + (f" (≈ {projected:,.0f} projected)" if projected else "")
            ratio = f"> {result.wall / self.yardstick:.0f}x"
        elif len(result.runs) > 1:
            walls = [r.process.wall_seconds for r in result.runs]
            wall += f" ({min(walls):.2f} to {max(walls):.2f})"
        speedup = "-"
        if ours and result is not ours and not ours.timed_out:
            factor = result.wall / ours.wall
            speedup = f"> {factor:.1f}x" if result.timed_out else f"{factor:.1f}x"
        gets = f"{traffic.gets:,}"
        if traffic.errors:
            gets += " (" + ", ".join(f"{n} x {code}" for code, n in sorted(traffic.errors.items())) + ")"
        verdict = run.verdict if run.verdict == "valid" or not run.detail else f"{run.verdict}: {run.detail}"
        cells = [
            result.tool,
            verdict,
            wall,
            ratio,
            gets,
            f"{traffic.heads:,}",
            mb(traffic.bytes_sent),
            f"{traffic.connections:,} ({traffic.max_concurrency})",
            f"{run.process.peak_rss_bytes / MiB:,.0f}",
            fmt_bytes(run.process.disk_write_bytes),
            f"{run.process.cpu_seconds:.1f}",
            speedup,
        ]
        return "| " + " | ".join(cells) + " |"

    def target_checks(self, ours: ToolResult) -> str:
        run = ours.shown
        rss = run.process.peak_rss_bytes
        written = run.process.disk_write_bytes
        peers = [r for r in self.results if r is not ours]
        checks = [
            ("verdict valid", run.verdict == "valid"),
            (f"GETs {run.traffic.gets} ≤ {self.get_target}", run.traffic.gets <= self.get_target),
            (f"peak RSS {rss / MiB:.0f} MiB < 200 MiB", rss < RSS_TARGET),
            (f"disk written {fmt_bytes(written)} = 0", written == 0),
            (
                f"wall {ours.wall / self.yardstick:.2f}x yardstick ≤ {TARGET_FACTOR}x",
                ours.wall <= TARGET_FACTOR * self.yardstick,
            ),
        ]
        if peers:
            beaten = all(r.timed_out or r.wall > ours.wall for r in peers)
            checks.append(("faster than every peer", beaten))
        return "bagverify against the targets: " + "; ".join(f"{text} {mark(ok)}" for text, ok in checks)

    def markdown(self) -> str:
        bag = self.bag
        lines = [
            f"### {bag.shape}: {bag.description}",
            "",
            f"`s3://{BUCKET}/{bag.key}`: archive {mb(bag.archive_bytes)} ({bag.archive_bytes:,} B), "
            f"{bag.files:,} payload files, {mb(bag.payload_bytes)} payload, "
            f"digests {'+'.join(bag.algorithms)}.",
            "",
            *self.floors(),
            "",
            "| tool | verdict | wall s | x yardstick | GETs | HEADs | bytes transferred "
            "| conns (max parallel) | peak RSS MiB | disk written | CPU s | bagverify speedup |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        ours = self.result("bagverify")
        lines += [self.row(result, ours) for result in self.results]
        lines.append("")
        if ours:
            lines.append(self.target_checks(ours))
            if ours.shown.detail:
                lines.append(f"(bagverify's own stats: {ours.shown.detail}; the table's counts are nginx's.)")
            lines.append("")
        return "\n".join(lines)


COLUMNS = (
    "Columns: *wall s*: process start to exit, start-up included (median of the runs; range in brackets). "
    "*x yardstick*: wall / (max(CPU floor, network floor) + 0.5 s); the target is ≤ 1.3. "
    "*GETs*, *HEADs*, *bytes transferred* (response headers included) and *conns* (distinct TCP connections; "
    "in brackets the most requests in flight at once): counted by nginx from its access log. "
    "*peak RSS*, *disk written* (block-device write_bytes) and *CPU s* (user + system): the kernel's "
    "resource usage of the tool's process, reported by GNU time. "
    "*bagverify speedup*: the peer's wall / bagverify's wall. "
    "A run stopped at the timeout shows a projection: its wall time / the share of the archive's member "
    "data it had fetched."
)

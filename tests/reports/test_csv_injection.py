"""Report CSV cells that Excel would run as formulas are defused, also behind a tab or CR (issue 16)."""

from callcenter.reports.export import _safe


def test_formula_starts_are_defused() -> None:
    for cell in ("=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1+1", "\r=HYPERLINK(\"x\")"):
        assert _safe(cell) == "'" + cell
    for cell in ("-3", "+86", "楼道灯不亮", "", 12):
        assert _safe(cell) == cell

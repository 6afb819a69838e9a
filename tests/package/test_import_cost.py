"""What `import tradetrail` costs a trading process: the writer and the formats, not the
search index (sqlite3), the charts (matplotlib) or the command line (click, rich)."""

from __future__ import annotations

import subprocess
import sys


def test_import_tradetrail_loads_no_index_charts_or_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import tradetrail"],
        capture_output=True,
        text=True,
        check=True,
    )
    # importtime lines: "import time: self [us] | cumulative | imported package"
    loaded = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "tradetrail.writer.trail" in loaded  # the measurement sees the package
    top = {name.lstrip().split(".")[0] for name in loaded}
    assert not top & {"sqlite3", "matplotlib", "click", "rich"}, sorted(top)
    assert not {name.strip() for name in loaded} & {
        "tradetrail.index",
        "tradetrail.cli",
        "tradetrail.compliance",
        "tradetrail.reports",
    }

"""JUnit XML for CI: one testsuite per device, one testcase per model variant x constraint."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from typing import Any

from edgeprof.decisions import Status
from edgeprof.report.escape import xml_text
from edgeprof.report.figures import verdict_bound, verdict_value
from edgeprof.report.placement import fallback_rows, placement_lines
from edgeprof.result import Result, viewer


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")


def _placement_out(result: dict[str, Any]) -> str:
    """Where the graph ran, the compile, the top operators and every fallback node, one per line ('' if none)."""
    lines = placement_lines(result)
    lines += [f"fallback node {node} ({op}) ran on {ran_on}" for node, op, ran_on in fallback_rows(result)]
    return "\n".join(lines)


def _verdict_case(suite: ET.Element, classname: str, fmt_name: str, verdict: dict[str, Any], strict: bool,
                  out: str) -> str:
    """Add one constraint's testcase, `out` (where the graph ran) as its system-out; return its outcome: pass,
    failure or skipped."""
    case = _case(suite, classname, f"{verdict['constraint']} {verdict['op']} {verdict['bound']:g} [{fmt_name}]")
    outcome = _outcome(case, verdict, strict)
    measured = (f"{verdict['constraint']} = {verdict_value(verdict)} "
                f"({verdict['status']}, bound {verdict_bound(verdict)})")
    ET.SubElement(case, "system-out").text = "\n".join([measured, *([out] if out else [])])
    return outcome


def _outcome(case: ET.Element, verdict: dict[str, Any], strict: bool) -> str:
    """Mark `case` failed or skipped as the verdict says; return the outcome: pass, failure or skipped."""
    status = Status.of(verdict["status"])
    why = f"value {verdict_value(verdict)}, bound {verdict_bound(verdict)}, " \
          f"method {verdict.get('method')}" + (f": {verdict['detail']}" if verdict.get("detail") else "")
    label = verdict["status"]
    if status is not None and status.failing(strict=strict):
        failure = ET.SubElement(case, "failure", message=f"{label}: {why}", type=label)
        failure.text = f"{verdict['constraint']}: {why} (source: {verdict.get('source', '-')})"
        return "failure"
    if status is not Status.PASS:  # not measured, informational, inconclusive (not strict), unknown
        ET.SubElement(case, "skipped", message=f"{label}: {why}")
        return "skipped"
    return "pass"


def to_junit(results: list[dict[str, Any]], *, strict: bool = False) -> str:
    """The verdicts as JUnit XML (classname <device>.<model>-<variant>, name 'metric op bound [format @accelerator]',
    the accelerator where not the default or the set mixes them, placement in system-out); a run that failed
    for a device/runtime reason is an <error> testcase. Inconclusive is skipped, or a failure with `strict`."""
    view = viewer(results)
    root = ET.Element("testsuites", name="edgeprof")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    devices: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        devices.setdefault(str(result.get("device", "?")), []).append(result)
    for device, rows in devices.items():
        suite = ET.SubElement(root, "testsuite", name=device, hostname=socket.gethostname(), time="0",
                              timestamp=str(rows[0].get("created", "")).rstrip("Z") or "1970-01-01T00:00:00")
        properties = ET.SubElement(suite, "properties")
        for run_id in dict.fromkeys(str(r.get("run_id")) for r in rows if r.get("run_id")):
            ET.SubElement(properties, "property", name="edgeprof.run_id", value=run_id)
        emulated = (rows[0].get("device_info") or {}).get("emulated")
        ET.SubElement(properties, "property", name="edgeprof.emulated", value=str(emulated or "no"))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for result in rows:
            shown = view(result)
            classname = f"{device}.{shown.ref}"
            if result.get("status") == "failed" and not Result(result).oom_detail:
                error = result.get("error") or {}
                case = _case(suite, classname, "run")
                node = ET.SubElement(case, "error", message=f"{error.get('kind')}: {error.get('message')}",
                                     type=str(error.get("kind", "error")))
                node.text = f"stage: {error.get('stage') or '-'}"
                counts["tests"] += 1
                counts["errors"] += 1
            for verdict in result.get("verdicts") or []:
                outcome = _verdict_case(suite, classname, shown.format + shown.accelerator_tag, verdict, strict,
                                        _placement_out(result))
                counts["tests"] += 1
                if outcome != "pass":
                    counts["failures" if outcome == "failure" else "skipped"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + xml_text(ET.tostring(root, encoding="unicode")) + "\n"

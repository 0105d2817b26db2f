"""The report as documents a reader opens: a one-page ``summary.md``, a self-contained
``report.html`` (figures embedded as data URIs) and ``report.pdf`` (fpdf2).

All three are rendered from the same two dictionaries that ``report.build_report`` returns, and
the significance results are written out as sentences (``findings``) that name the counts and
p-values they rest on, so a reader can check every claim against ``statistical_analysis.json``.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["findings", "html_report", "missing_text", "pdf_report", "summary_markdown"]

TITLE = "Positional encodings compared"
BUCKET_WORDS = {
    "all": "Over all test problems",
    "in_distribution": "On the training lengths",
    "out_of_distribution": "Beyond the training lengths",
}
_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_BOLD = _FONT.with_name("DejaVuSans-Bold.ttf")


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(summary: dict[str, Any]) -> str:
    """``0.620 [0.550, 0.700]``: the mean and its bootstrap interval (none below two seeds)."""
    if summary.get("mean") is None:
        return "-"
    ci = summary.get("ci95")
    return _number(summary["mean"]) + (f" [{_number(ci[0])}, {_number(ci[1])}]" if ci else "")


def _p(value: float) -> str:
    return f"{value:.2g}"


def _lengths_text(lengths: Any) -> str:
    """``[1, 10]`` -> ``1-10``; a list of test lengths as runs (``11-20``, ``21-40, 50, 60``)."""
    if not lengths:
        return "-"
    values = sorted(int(n) for n in lengths)
    if len(values) == 2 and values[1] - values[0] > 1:
        return f"{values[0]}-{values[1]}"
    runs, start = [], values[0]
    for previous, current in zip(values, [*values[1:], None]):
        if current != previous + 1:
            runs.append(str(start) if start == previous else f"{start}-{previous}")
            start = current
    return ", ".join(runs)


def _format_text(s: dict[str, Any]) -> str:
    """How the study's numbers were written, where not plainly (tasks/formats.py)."""
    notes = [("unequal operands", s.get("unequal_operands")), ("index hints", s.get("index_hints")),
             ("zero-padded", s.get("zero_pad")), (f"random spaces in training ({s.get('random_spaces')})", s.get("random_spaces")),
             (f"up to {s.get('spaces_around_numbers')} spaces around each number in training", s.get("spaces_around_numbers"))]
    return "".join(f", {note}" for note, on in notes if on)


def settings_text(s: dict[str, Any]) -> str:
    """A study's settings as one sentence a reader can check against the configs."""
    m, t = s["model"], s["train"]
    parts = [f"Task {s['task']}"]
    if s.get("train_lengths"):
        parts.append(f"trained on lengths {_lengths_text(s['train_lengths'])}, tested on {_lengths_text(s['test_lengths'])}"
                     + (" (reversed)" if s.get("reverse") else "") + _format_text(s))
    if s.get("init"):
        parts.append(f"from {s['init']}" + (f" with LoRA rank {s['lora_rank']}" if s.get("lora_rank") else ""))
    else:
        parts.append(f"model of {m['num_layers']} layers, width {m['width']}, {m['num_heads']} heads, MLP {m['mlp_dim']}")
    parts.append(f"{t['steps']} steps of {t['batch_size']} at learning rate {t['learning_rate']}")
    if s.get("examples_per_length"):
        parts.append(f"{s['examples_per_length']} test problems per length")
    return "; ".join(parts) + "."


def missing_text(paths: Sequence[str]) -> str:
    """The runs a report leaves out, each named, so that an arm with a seed fewer says why."""
    runs = "1 run" if len(paths) == 1 else f"{len(paths)} runs"
    return f"{runs} left out, with no results.json (failed, stopped or not evaluated yet): {', '.join(paths)}"


def headline_rows(study: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a study's headline table: one row per arm, mean [95% interval] over seeds."""
    synthetic = bool(study["lengths"])
    columns = ["in_distribution", "out_of_distribution"] if synthetic else ["symbolic_accuracy", "exact_match"]
    names = {"in_distribution": "training lengths", "out_of_distribution": "beyond training",
             "symbolic_accuracy": "accuracy", "exact_match": "exact match"}
    header = ["arm", "seeds", *[names[c] for c in columns]]
    rows = []
    for label, arm in study["arms"].items():
        metrics = arm["metrics"]
        rows.append([label + (" *" if arm.get("caveat") else ""), str(len(arm["runs"])), *[_interval(metrics[c]) for c in columns]])
    return header, rows


def length_rows(study: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of accuracy by length: one row per arm, the seed mean at each length."""
    lengths = [str(n) for n in study["lengths"]]
    rows = [[label, *[_number(study["by_length"][n][label]["mean"], 2) for n in lengths]] for label in study["arms"]]
    return ["arm", *lengths], rows


def findings(stats: dict[str, Any], buckets: tuple[str, ...] = ("in_distribution", "out_of_distribution", "all")) -> list[str]:
    """The significance results of one study in words, one sentence per pair that differs after
    Holm's correction (with its discordant counts and p-values), then one for the pairs that do
    not."""
    sentences = []
    for bucket in buckets:
        test = stats["tests"].get(bucket)
        if not test or not test["pairs"]:
            continue
        summaries = test["summaries"]
        where = BUCKET_WORDS.get(bucket, f"At length {bucket}")
        other = []
        for name, pair in test["pairs"].items():
            a, b = name.split(" vs ")
            if not pair["reject"]:
                other.append(f"{a} vs {b} (adjusted p = {_p(pair['p_adjusted'])})")
                continue
            better, worse = (a, b) if pair["a_only"] >= pair["b_only"] else (b, a)
            alone = {a: pair["a_only"], b: pair["b_only"]}
            sentences.append(
                f"{where}, {better} ({_interval(summaries[better])}) beats {worse} ({_interval(summaries[worse])}): of "
                f"{pair['n']} paired problems, {better} alone solved {alone[better]} and {worse} alone "
                f"{alone[worse]} (McNemar exact p = {_p(pair['p_value'])}, Holm-adjusted {_p(pair['p_adjusted'])})."
            )
        if other:
            sentences.append(f"{where}, no significant difference at alpha = {stats['alpha']}: {'; '.join(other)}.")
    return sentences


def verdicts(stats: dict[str, Any], bucket: str) -> str:
    """One line for a one-page summary: which pairs differ in ``bucket`` after Holm's correction
    (``a > b``) and which do not (``a ~ b``); the numbers are in the full report."""
    test = stats["tests"].get(bucket)
    if not test or not test["pairs"]:
        return ""
    differ, same = [], []
    for name, pair in test["pairs"].items():
        a, b = name.split(" vs ")
        if pair["reject"]:
            differ.append(f"{a} > {b}" if pair["a_only"] >= pair["b_only"] else f"{b} > {a}")
        else:
            same.append(f"{a} ~ {b}")
    return (f"{BUCKET_WORDS.get(bucket, bucket)} (McNemar, Holm-adjusted, alpha = {stats['alpha']}): "
            + ", ".join(differ + same) + ".")


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def summary_markdown(report: dict[str, Any], statistics: dict[str, Any]) -> str:
    """One page: per study its settings, the headline table and the out-of-distribution findings."""
    parts = [f"# {TITLE}", "", f"Runs under `{report['directory']}`; full report: `report.html`, `report.pdf`.", ""]
    if report["missing"]:
        parts += [f"**{missing_text(report['missing'])}.**", ""]
    for task, study in report["studies"].items():
        parts += [f"## {task}", "", settings_text(study["settings"]) + " Mean [bootstrap 95% interval] over seeds.", ""]
        parts += [_markdown_table(*headline_rows(study)), ""]
        parts += [f"\\* {c}" for c in study["caveats"]] + ([""] if study["caveats"] else [])
        parts += [f"- {line}" for bucket in ("out_of_distribution", "in_distribution")
                  if (line := verdicts(statistics["studies"][task], bucket))]
        parts.append("")
    return "\n".join(parts)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%}figure{margin:1em 0}pre{background:#f6f6f6;padding:.5em;
overflow-x:auto;font-size:.8em}.caveat{background:#fff3cd;padding:.5em;border-left:4px solid #e0a800}"""


def html_report(report: dict[str, Any], statistics: dict[str, Any], directory: Path) -> str:
    """The whole report as one HTML file: figures embedded, configs and commands included."""
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title><style>{_STYLE}</style></head><body>",
           f"<h1>{TITLE}</h1><p>Runs under <code>{e(report['directory'])}</code>.</p>"]
    if report["missing"]:
        out.append(f"<p class='caveat'>{e(missing_text(report['missing']))}.</p>")
    out.append(f"<h2>Method</h2><p>{e(statistics['method'])}</p>")
    for task, study in report["studies"].items():
        stats = statistics["studies"][task]
        out.append(f"<h2>Task: {e(task)}</h2>")
        out += [f"<p class='caveat'>* {e(c)}</p>" for c in study["caveats"]]
        out.append(f"<p>{e(settings_text(study['settings']))}</p>")
        out.append("<h3>Accuracy (mean [bootstrap 95% interval] over seeds)</h3>" + _html_table(*headline_rows(study)))
        if study["lengths"]:
            out.append("<h3>Accuracy by length (seed mean)</h3>" + _html_table(*length_rows(study)))
        out.append("<h3>Significance</h3><ul>" + "".join(f"<li>{e(x)}</li>" for x in findings(stats)) + "</ul>")
        ranks = [[bucket, ", ".join(labels)] for bucket, labels in stats["ranks"].items()]
        out.append("<h3>Ranks (best first)</h3>" + _html_table(["bucket", "arms"], ranks))
        untrained = [[label, (a["untrained"] or {}).get("summary") or "-"] for label, a in study["arms"].items()]
        out.append("<h3>Positions never trained</h3>" + _html_table(["arm", "what evaluation meets untrained"], untrained))
        columns = report["efficiency_columns"]
        eff = [[label, *[_number(a["efficiency"][k], 1) for k in columns]] for label, a in study["arms"].items()]
        out.append("<h3>Efficiency (this machine)</h3>" + _html_table(["arm", *columns.values()], eff))
        for figure in study["figures"]:
            if figure["file"]:
                out.append(f"<figure><img src='{_image(directory / figure['file'])}' alt='{e(figure['caption'])}'>"
                           f"<figcaption>{e(figure['caption'])}</figcaption></figure>")
            else:
                out.append(f"<p>{e(figure['caption'])}</p>")
        for label, arm in study["arms"].items():
            runs = ", ".join(f"{r['path']} (seed {r['seed']}, step {r['step']})" for r in arm["runs"])
            out.append(f"<details><summary>Config of {e(label)}: {e(runs)}</summary><pre>{e(json.dumps(arm['config'], indent=1))}</pre></details>")
    commands = report["commands"]
    if commands:
        out.append(f"<h2>Reproduce</h2><pre>{e(commands['sweep'])}</pre><details><summary>Each run</summary><pre>"
                   + e("\n".join(commands["runs"].values())) + "</pre></details>")
    out.append("</body></html>")
    return "\n".join(out)


def pdf_report(report: dict[str, Any], statistics: dict[str, Any], directory: Path) -> bytes:
    """The report as a PDF: method, per study the settings, tables, findings and figures, then the
    commands to reproduce it. DejaVu Sans where the system has it, else a core font (Latin-1)."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(True, margin=12)
    if _FONT.is_file() and _BOLD.is_file():
        pdf.add_font("body", fname=str(_FONT))
        pdf.add_font("body", style="B", fname=str(_BOLD))
        family, clean = "body", str
    else:
        family = "helvetica"

        def clean(text: str) -> str:
            return text.encode("latin-1", "replace").decode("latin-1")

    def text(value: str, size: float = 10, height: float = 5) -> None:
        pdf.set_font(family, size=size)
        pdf.multi_cell(0, height, clean(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def table(header: list[str], rows: list[list[str]], size: float = 8) -> None:
        pdf.set_font(family, size=size)
        first = max(pdf.get_string_width(clean(row[0])) for row in [header, *rows]) + 4
        rest = max(pdf.get_string_width(clean(cell)) for row in [header, *rows] for cell in row[1:]) + 4
        width = min(pdf.epw, first + rest * (len(header) - 1))
        with pdf.table(
            width=width,
            col_widths=(first, *[rest] * (len(header) - 1)),
            text_align=("LEFT", *["RIGHT"] * (len(header) - 1)),
            align="LEFT",
            first_row_as_headings=True,
            line_height=size * 0.55,
        ) as t:
            for row in [header, *rows]:
                cells = t.row()
                for cell in row:
                    cells.cell(clean(cell))
        pdf.ln(2)

    pdf.add_page()
    text(TITLE, 18, 9)
    text(f"Runs under {report['directory']}.")
    if report["missing"]:
        text(missing_text(report["missing"]) + ".")
    text("Method. " + statistics["method"])
    for task, study in report["studies"].items():
        stats = statistics["studies"][task]
        pdf.add_page()
        text(f"Task: {task}", 14, 7)
        for caveat in study["caveats"]:
            text(f"* {caveat}")
        text(settings_text(study["settings"]), 9, 4.5)
        text("Accuracy: mean [bootstrap 95% interval] over seeds", 11, 6)
        table(*headline_rows(study))
        if study["lengths"]:
            text("Accuracy by length (seed mean)", 11, 6)
            table(*length_rows(study), size=6 if len(study["lengths"]) > 12 else 8)
        text("Positions never trained", 11, 6)
        table(["arm", "what evaluation meets untrained"],
              [[label, (a["untrained"] or {}).get("summary") or "-"] for label, a in study["arms"].items()])
        text("Significance", 11, 6)
        for sentence in findings(stats):
            text("- " + sentence, 8, 4)
        for figure in study["figures"]:
            if not figure["file"]:
                continue
            pdf.add_page()
            text(figure["caption"], 10, 5)
            pdf.image(str(directory / figure["file"]), h=pdf.eph - 15, keep_aspect_ratio=True, w=pdf.epw)
    if report["commands"]:
        pdf.add_page()
        text("Reproduce", 14, 7)
        text(report["commands"]["sweep"], 8, 4)
        for command in report["commands"]["runs"].values():
            text(command, 6, 3)
    return bytes(pdf.output())

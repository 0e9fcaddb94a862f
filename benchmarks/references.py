"""Published reference numbers, read from ``REFERENCE_RESULTS.md`` beside the benchmark data.

The numbers are parsed from the file rather than copied into code, so the report always shows
exactly what the data folder documents. Only the tables whose columns are task names
(``C->A`` ...) or task rows (``USPS->MNIST``) are read.
"""

import os
import re

from skdomainclust.datasets import get_data_home

_DOMAIN_LETTERS = {"A": "amazon", "C": "caltech", "D": "dslr", "W": "webcam"}
_TASK_COLUMN = re.compile(r"^([ACDW])->([ACDW])$")


def _tables(text):
    """Yield ``(section_title, section_text, header_cells, rows)`` for each markdown table."""
    title, body, lines = "", "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            title, body = line.lstrip("#").strip(), ""
        else:
            body += line + "\n"
        if line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].strip()) <= set("|-: "):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            yield title, body, header, rows
            continue
        i += 1


def _number(cell):
    try:
        return float(cell.replace("*", ""))
    except ValueError:
        return None


_VENUE = re.compile(r"(ACM MM \d{4}|ICCV \d{4}|AAAI \d{4}|ICME \d{4})")


def _source_label(title, body):
    """A short citation ('ACM MM 2018') from a section title, else from the text under it."""
    match = _VENUE.search(title) or _VENUE.search(body)
    return match.group(1) if match else title.split(",")[0]


def _meda_digits(text):
    """The MEDA Table 3 digits numbers, given in prose as 'NAME U->M/M->U' pairs."""
    match = re.search(r"MEDA paper Table 3 \(U=USPS, M=MNIST\):(.*?)\(U->M / M->U\)", text, re.S)
    if not match:
        return {}
    references = {}
    for name, u2m, m2u in re.findall(r"([\w-]+) (\d+\.\d)/(\d+\.\d)", match.group(1)):
        references.setdefault("digits:usps->mnist", {})[f"{name} (ACM MM 2018)"] = float(u2m)
        references.setdefault("digits:mnist->usps", {})[f"{name} (ACM MM 2018)"] = float(m2u)
    return references


_OFFICE31_SOURCE_ONLY = re.compile(r"ResNet-50 source-only ((?:[ADW]-[ADW] [\d.]+,? )+)")


def _office31(data_home):
    """ResNet-50 source-only per task, from the Office-31 README (another backbone: context)."""
    path = os.path.join(get_data_home(data_home), "office31_effnetlite0", "README.md")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        match = _OFFICE31_SOURCE_ONLY.search(" ".join(handle.read().split()))
    if not match:
        return {}
    references = {}
    for src, tgt, value in re.findall(r"([ADW])-([ADW]) ([\d.]+)", match.group(1)):
        task = f"office31:{_DOMAIN_LETTERS[src]}->{_DOMAIN_LETTERS[tgt]}"
        references[task] = {"ResNet-50 source-only (papers; another backbone)": float(value)}
    return references


def load_references(data_home=None):
    """Return ``{task_name: {row_label: acc_percent}}`` parsed from REFERENCE_RESULTS.md.

    Task names follow ``benchmarks.tasks``: ``surf:amazon->webcam``, ``decaf:webcam->dslr``,
    ``digits:usps->mnist``. Returns an empty dict when the file is absent.
    """
    path = os.path.join(get_data_home(data_home), "REFERENCE_RESULTS.md")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    references = _meda_digits(text)
    references.update(_office31(data_home))
    for title, body, header, rows in _tables(text):
        family = None
        if "SURF" in title or title.startswith(("1a", "1b", "1c", "1d")):
            family = "surf"
        elif "DeCAF" in title:
            family = "decaf"
        columns = {j: _TASK_COLUMN.match(h) for j, h in enumerate(header)}
        if family and any(columns.values()):
            source = _source_label(title, body)
            for row in rows:
                method = row[0]
                for j, match in columns.items():
                    if not match or j >= len(row):
                        continue
                    value = _number(row[j])
                    if value is None:
                        continue
                    src, tgt = (_DOMAIN_LETTERS[g] for g in match.groups())
                    references.setdefault(f"{family}:{src}->{tgt}", {})[
                        f"{method} ({source})"] = value
        if header and header[0] == "Task" and "JDA" in header:
            for row in rows:
                match = re.match(r"(USPS|MNIST)->(USPS|MNIST)", row[0])
                if not match:
                    continue
                task = f"digits:{match.group(1).lower()}->{match.group(2).lower()}"
                for j, method in enumerate(header[1:], start=1):
                    value = _number(row[j]) if j < len(row) else None
                    if value is not None:
                        references.setdefault(task, {})[f"{method} (ICCV 2013)"] = value
    return references

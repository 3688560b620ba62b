"""Re-counts every shipped report from the raw log lines and compares every number.

Nothing here comes from loglake: the lines are parsed with a regular expression written here (the
Apache/nginx CLF family: `common`, `combined`, `vhost_combined`, with nginx's or Apache's request
time after the user agent), user agents are classified by woothee's Python implementation and the
crawler list's patterns run by Python's `re`, countries looked up by MaxMind's Python reader in the
same database file, networks by Python's csv and bisect in the same tables, and each report is counted in plain Python from the columns' documented
meaning (README.md, "The access_logs table"). loglake ingests the same logs and runs every report
in queries/reports/ (`loglake query NAME --format json`, DataFusion); every row and every number
must match, or lie within the documented error of an approximate aggregate (`approx_distinct`,
`approx_percentile`). A report this script has no re-count for fails the check: a new report comes
with its re-count, or with the reason it cannot have one in CANNOT_RECOUNT.

usage: recount.py LOGLAKE_BINARY LOG...   (LOGLAKE_ENRICHMENT_DIR: the country and network
                                           databases and crawler list, as loglake reads them)
"""

import bisect
import collections
import csv
import datetime
import glob
import ipaddress
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import maxminddb
import woothee

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# Reports that cannot be re-counted from the lines, and why. (None today.)
CANNOT_RECOUNT = {}

# The client: an address or a host name, or a forwarded-for list (bare, or quoted before the
# address that connected) whose first entry is the client. The user is the field before the time,
# whether the identity field before it is there or not (or another field is).
LINE = re.compile(
    rb'^(?:(?P<vhost>[^\s,]+) )?(?:"(?P<forwarded>[^"]*)" \S+|(?P<client>[^\s"-][^\s,]*(?:, [^\s,]+)*))'
    rb'(?: \S+)*? (?P<user>\S+) \[(?P<ts>[^\]]+)\] '
    rb'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    # a user agent the server cut short has no closing quote (README.md: a row all the same)
    rb'(?: "(?P<referrer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"?)?(?P<rest>(?: .*)?)$'
)
TIME = re.compile(r"^(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")
MONTHS = {m: i + 1 for i, m in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
# `METHOD TARGET PROTOCOL`; a target may hold spaces (a scanner's `?cmd=ls -al`).
REQUEST = re.compile(r"^([A-Z][A-Z-]*) (.+?)(?: (HTTP/[0-9.]+))?$")

# The extensions README.md calls static (the column `is_static`).
STATIC = set("""css js mjs map json xml txt ico png jpg jpeg gif webp avif svg bmp tif tiff woff
woff2 ttf otf eot mp4 webm mp3 ogg wav flac m4a mov avi pdf zip gz tgz bz2 xz 7z rar tar iso dmg
exe msi deb rpm apk jar wasm csv doc docx xls xlsx ppt pptx swf flv m3u8 ts m4s""".split())
# README.md's `is_bot`: automation tokens woothee does not call crawlers (compared in lower case).
BOT_TOKENS = ["bot", "spider", "crawl", "slurp", "curl/", "wget/", "python-requests",
              "python-urllib", "aiohttp", "go-http-client", "java/", "libwww-perl",
              "apache-httpclient", "okhttp", "scrapy", "headlesschrome", "facebookexternalhit",
              "nikto", "masscan", "zgrab", "nmap", "sqlmap"]


def unquote(field):
    """A quoted field's value: `-` is null, `\\"` and `\\\\` are the characters."""
    if field is None:
        return None
    text = re.sub(rb"\\([\"\\])", rb"\1", field).decode("utf-8", "replace")
    return None if text == "-" else text


def utc(stamp):
    d, mon, y, hh, mm, ss, sign, oh, om = TIME.match(stamp).groups()
    local = datetime.datetime(int(y), MONTHS[mon], int(d), int(hh), int(mm), int(ss),
                              tzinfo=datetime.timezone.utc)
    offset = datetime.timedelta(hours=int(oh), minutes=int(om))
    return local - offset if sign == "+" else local + offset


def request_time_ms(rest):
    """nginx's `$request_time` (seconds, with a decimal point) or Apache's `%D` (microseconds)."""
    first = rest.split()[0] if rest.split() else b""
    if re.fullmatch(rb"\d+\.\d+", first):
        return float(first) * 1000
    if re.fullmatch(rb"\d+", first):
        return int(first) / 1000
    return None


class Agents:
    """README.md's user-agent columns: woothee's values, and the bot rule."""

    def __init__(self, crawler_list):
        self.patterns = []
        for entry in json.load(open(crawler_list)):
            # ASCII classes, and no look-arounds: README.md, Enrichment.
            if re.search(r"\(\?<?[=!]", entry["pattern"]):
                continue
            try:
                self.patterns.append(re.compile(entry["pattern"], re.ASCII))
            except re.error:
                pass
        self.cache = {}

    def __call__(self, agent):
        if agent not in self.cache:
            self.cache[agent] = self.classify(agent)
        return self.cache[agent]

    @staticmethod
    def product_at(agent, at):
        """The word holding `at` (between spaces, `;`, `(`, `)`, `,`, `+`), cut at its `/`."""
        separators = " ;(),+"
        start = max((agent.rfind(s, 0, at) for s in separators), default=-1) + 1
        ends = [i for i in (agent.find(s, at) for s in separators) if i >= 0]
        word = agent[start:min(ends, default=len(agent))]
        product = word.split("/")[0] or word
        product = product.strip("".join({c for c in product if not c.isalnum()}))
        return product.encode()[:64].decode("utf-8", "ignore")

    def classify(self, agent):
        ua = agent or ""
        result = woothee.parse(ua)
        # woothee's dataset gained the Google Search App (label GSA, found in Safari's agents
        # by `GSA/VERSION`) after the last Python release (1.10.1, 2019); woothee's own rule.
        gsa = re.search(r"GSA/([.0-9]+)", ua)
        if result["name"] == "Safari" and gsa:
            result.update(name="Google Search App", version=gsa.group(1))
        starts = [m.start() for m in (p.search(ua) for p in self.patterns) if m]
        listed = self.product_at(ua, min(starts)) if starts else None
        crawler = result["category"] == "crawler"
        lower = ua.lower()
        token = next((lower.find(t) for t in BOT_TOKENS if t in lower), None)
        is_bot = bool(starts) or crawler or token is not None
        bot_name = None
        if is_bot:
            own = result["name"] if crawler and result["name"] not in ("UNKNOWN", "misc crawler") else None
            itself = self.product_at(ua, 0)
            candidates = [listed, own, self.product_at(ua, token) if token is not None else None,
                          itself if itself != "Mozilla" else None, result["name"]]
            bot_name = next((c for c in candidates if c), None)
        return {"ua_name": result["name"], "ua_category": result["category"],
                "ua_os": result["os"], "is_bot": is_bot, "bot_name": bot_name}


CGNAT = ipaddress.ip_network("100.64.0.0/10")


class Countries:
    def __init__(self, database):
        self.reader = maxminddb.open_database(database)

    def __call__(self, client):
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return None
        # Addresses no country has are never looked up (README.md, Enrichment).
        if (address.is_private or address.is_loopback or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified
                or address in CGNAT):
            return None
        record = self.reader.get(address)
        if not record:
            return None
        return record.get("country_code") or (record.get("country") or {}).get("iso_code")


class Networks:
    """The IP-to-network tables (ip-location-db's asn package), read with Python's csv module and
    searched with bisect: the same files, not the same code."""

    def __init__(self, directory):
        self.tables = {}
        for version, name in ((4, "asn-ipv4-num.csv"), (6, "asn-ipv6-num.csv")):
            with open(os.path.join(directory, name), newline="", encoding="utf-8") as f:
                ranges = sorted((int(a), int(b), int(n), org) for a, b, n, org in csv.reader(f))
            self.tables[version] = ([r[0] for r in ranges], ranges)

    def __call__(self, client):
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return None
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        if (address.is_private or address.is_loopback or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified
                or address in CGNAT):
            return None
        starts, ranges = self.tables[address.version]
        at = bisect.bisect_right(starts, int(address)) - 1
        if at < 0 or int(address) > ranges[at][1]:
            return None
        return ranges[at][2], ranges[at][3]


def rows(path, agents, countries, networks):
    """The log's rows as README.md's columns, and the number of lines this parse rejects."""
    out, unparsed = [], 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            m = LINE.match(raw.rstrip(b"\r\n"))
            if not m or not TIME.match(m["ts"].decode("ascii", "replace")):
                unparsed += 1
                continue
            request = unquote(m["request"]) or None
            method = path_ = protocol = query = None
            if request is not None:
                parsed = REQUEST.match(request)
                if parsed:
                    method, target, protocol = parsed.groups()
                    path_, _, query = target.partition("?")
                    query = query if "?" in target else None
                else:
                    path_ = request
            ts = utc(m["ts"].decode())
            agent = unquote(m["agent"])
            client = (m["forwarded"] or m["client"]).decode().split(",")[0].strip()
            row = {
                "dt": ts.strftime("%Y-%m-%d"), "hour": ts.hour, "client_ip": client,
                "country": countries(client) if countries else None,
                "network": networks(client) if networks else None,
                "ts": ts, "remote_user": unquote(m["user"]),
                "method": method, "path": path_, "query": query, "protocol": protocol,
                "is_static": None if path_ is None else (
                    "." in path_.rsplit("/", 1)[-1]
                    and path_.rsplit(".", 1)[-1].lower() in STATIC),
                "status": int(m["status"]),
                "bytes_sent": None if m["bytes"] == b"-" else int(m["bytes"]),
                "referrer": unquote(m["referrer"]), "user_agent": agent,
                "request_time_ms": request_time_ms(m["rest"]),
                "vhost": m["vhost"].decode() if m["vhost"] else None,
                "source": path, "source_line": number,
            }
            row.update(agents(agent))
            out.append(row)
    return out, unparsed


# --- the reports, counted from the rows -------------------------------------------------------

def by(rows_, key):
    groups = collections.defaultdict(list)
    for row in rows_:
        groups[key(row)].append(row)
    return groups


def total_bytes(group):
    return sum(r["bytes_sent"] or 0 for r in group)


def visitors(group, with_day=False):
    return len({(r["client_ip"], r["user_agent"] or "") + ((r["dt"],) if with_day else ())
                for r in group})


def share(part, whole):
    return round(100.0 * part / whole, 2)


def top(groups, columns, order, limit=None):
    """`columns(key, group)` for each group, sorted by `order(row)`, the first `limit`."""
    result = sorted((columns(k, g) for k, g in groups.items()), key=order)
    return result[:limit] if limit else result


def with_visitors(key):
    """A ranking's row: the group's key, its requests, visitors (a day's) and bytes."""
    return lambda k, g: {key: k, "requests": len(g), "visitors": visitors(g, with_day=True),
                         "bytes": total_bytes(g)}


def exact_percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def recount(all_rows):
    paths = [r for r in all_rows if r["path"] is not None]
    n = len(all_rows)
    reports = {
        "traffic_by_hour": top(
            by(all_rows, lambda r: (r["dt"], r["hour"])),
            lambda k, g: {"dt": k[0], "hour": k[1], "requests": len(g), "bytes": total_bytes(g),
                          "visitors": visitors(g)},
            lambda r: (r["dt"], r["hour"])),
        "traffic_by_day": top(
            by(all_rows, lambda r: r["dt"]),
            lambda k, g: {"dt": k, "requests": len(g),
                          "page_requests": sum(1 for r in g if not r["is_static"]),
                          "bytes": total_bytes(g), "visitors": visitors(g)},
            lambda r: r["dt"]),
        "status_by_hour": top(
            by(all_rows, lambda r: (r["dt"], r["hour"], f"{r['status'] // 100}xx")),
            lambda k, g: {"dt": k[0], "hour": k[1], "status_class": k[2], "requests": len(g)},
            lambda r: (r["dt"], r["hour"], r["status_class"])),
        "error_rate_by_hour": top(
            by(all_rows, lambda r: (r["dt"], r["hour"])),
            lambda k, g: {"dt": k[0], "hour": k[1], "requests": len(g),
                          "client_errors": sum(1 for r in g if 400 <= r["status"] <= 499),
                          "server_errors": sum(1 for r in g if r["status"] >= 500),
                          "error_rate_pct": share(sum(1 for r in g if r["status"] >= 400), len(g))},
            lambda r: (r["dt"], r["hour"])),
        "top_paths": top(
            by(paths, lambda r: r["path"]),
            lambda k, g: {"path": k, "requests": len(g)},
            lambda r: (-r["requests"], r["path"]), 50),
        "top_paths_by_hour": [
            row for _, group in sorted(by(paths, lambda r: (r["dt"], r["hour"])).items())
            for row in top(by(group, lambda r: r["path"]),
                           lambda k, g: {"dt": g[0]["dt"], "hour": g[0]["hour"], "path": k,
                                         "requests": len(g)},
                           lambda r: (-r["requests"], r["path"]), 5)],
        "top_404_paths": top(
            by([r for r in paths if r["status"] == 404], lambda r: r["path"]),
            lambda k, g: {"path": k, "requests": len(g)},
            lambda r: (-r["requests"], r["path"]), 50),
        "bandwidth_by_path": top(
            by(paths, lambda r: r["path"]),
            lambda k, g: {"path": k, "requests": len(g), "bytes": total_bytes(g)},
            lambda r: (-r["bytes"], r["path"]), 50),
        "top_clients": top(
            by(all_rows, lambda r: r["client_ip"]),
            lambda k, g: {"client_ip": k, "requests": len(g), "bytes": total_bytes(g)},
            lambda r: (-r["requests"], r["client_ip"]), 50),
        "top_vhosts": top(
            by([r for r in all_rows if r["vhost"] is not None], lambda r: r["vhost"]),
            lambda k, g: {"vhost": k, "requests": len(g), "bytes": total_bytes(g)},
            lambda r: (-r["requests"], r["vhost"]), 50),
        "browsers": top(
            by(all_rows, lambda r: r["ua_name"]),
            lambda k, g: {"ua_name": k, "requests": len(g)},
            lambda r: (-r["requests"], r["ua_name"])),
        "operating_systems": top(
            by(all_rows, lambda r: r["ua_os"]),
            lambda k, g: {"ua_os": k, "requests": len(g), "share_pct": share(len(g), n)},
            lambda r: (-r["requests"], r["ua_os"])),
        "device_categories": top(
            by(all_rows, lambda r: r["ua_category"]),
            lambda k, g: {"ua_category": k, "requests": len(g), "share_pct": share(len(g), n)},
            lambda r: (-r["requests"], r["ua_category"])),
        "bots": top(
            by([r for r in all_rows if r["is_bot"]], lambda r: r["bot_name"] or r["ua_name"]),
            lambda k, g: {"bot": k, "requests": len(g), "bytes": total_bytes(g)},
            lambda r: (-r["requests"], r["bot"]), 50),
        "bot_share": top(
            by(all_rows, lambda r: r["is_bot"]),
            lambda k, g: {"is_bot": k, "requests": len(g), "bytes": total_bytes(g),
                          "share_pct": share(len(g), n)},
            lambda r: r["is_bot"]),
        "countries": top(
            by(all_rows, lambda r: r["country"] or "-"),
            lambda k, g: {"client_country": k, "requests": len(g),
                          "visitors": visitors(g, with_day=True), "bytes": total_bytes(g)},
            lambda r: (-r["requests"], r["client_country"]), 50),
        "networks": top(
            by(all_rows, lambda r: str(r["network"][0]) if r["network"] else "-"),
            lambda k, g: {"asn": k, "as_org": max(r["network"][1] for r in g) if k != "-" else "-",
                          "requests": len(g), "visitors": visitors(g, with_day=True),
                          "bytes": total_bytes(g)},
            lambda r: (-r["requests"], r["asn"]), 50),
    }
    reports.update({
        "static_files": top(by([r for r in paths if r["is_static"]], lambda r: r["path"]),
                            with_visitors("path"), lambda r: (-r["requests"], r["path"]), 50),
        "visit_time": top(by(all_rows, lambda r: r["hour"]), with_visitors("hour"),
                          lambda r: r["hour"]),
        "remote_users": top(
            by([r for r in all_rows if r["remote_user"] is not None], lambda r: r["remote_user"]),
            with_visitors("remote_user"), lambda r: (-r["requests"], r["remote_user"]), 50),
        "methods_and_protocols": top(
            by(all_rows, lambda r: (r["method"] or "-", r["protocol"] or "-")),
            lambda k, g: {"method": k[0], "protocol": k[1], "requests": len(g),
                          "visitors": visitors(g, with_day=True), "bytes": total_bytes(g)},
            lambda r: (-r["requests"], r["method"], r["protocol"])),
        "referrer_urls": top(
            by([r for r in all_rows if r["referrer"] is not None], lambda r: r["referrer"]),
            lambda k, g: {"referrer": k, "requests": len(g), "visitors": visitors(g, with_day=True)},
            lambda r: (-r["requests"], r["referrer"]), 50),
    })
    for name, chosen in (("top_paths", paths), ("top_404_paths", [r for r in paths if r["status"] == 404])):
        reports[name] = top(by(chosen, lambda r: r["path"]), with_visitors("path"),
                            lambda r: (-r["requests"], r["path"]), 50)
    reports.update(visit_reports(all_rows))
    reports.update(security_reports(all_rows))
    # These read `extra_fields`, which the CLF family never fills (README.md): nothing to show.
    reports.update({name: [] for name in ("cache_status", "content_types", "tls_versions")})
    # Referring sites: the host of an absolute http(s) referrer, other than the site's own.
    referred = []
    for r in all_rows:
        ref = r["referrer"]
        if ref and ref.startswith("http") and "://" in ref[4:]:
            parts = ref.split("/")
            host = parts[2] if len(parts) > 2 else ""
            if host != (r["vhost"] or ""):
                referred.append((host, r))
    reports["top_referrers"] = top(
        by(referred, lambda hr: hr[0]),
        lambda k, g: {"referrer_host": k, "requests": len(g)},
        lambda r: (-r["requests"], r["referrer_host"]), 50)
    # The slowest paths: exact percentiles here, compared with the report's approximations.
    timed = by([r for r in paths if r["request_time_ms"] is not None], lambda r: r["path"])
    reports["slowest_paths"] = {
        path: {"requests": len(g), "times": [r["request_time_ms"] for r in g]}
        for path, g in timed.items()}
    return reports


VISIT_GAP_SECONDS = 30 * 60


def visit_reports(all_rows):
    """Visits: a visitor's (client and user agent) requests in time order, a new visit after a
    gap of more than 30 minutes."""
    by_visitor = by(all_rows, lambda r: (r["client_ip"], r["user_agent"] or ""))
    visits = []
    for requests in by_visitor.values():
        requests.sort(key=lambda r: (r["ts"], r["source"], r["source_line"]))
        current = None
        for r in requests:
            if current is None or (r["ts"] - current[-1]["ts"]).total_seconds() > VISIT_GAP_SECONDS:
                current = [r]
                visits.append(current)
            else:
                current.append(r)
    days = collections.defaultdict(list)
    entries, exits = collections.Counter(), collections.Counter()
    for visit in visits:
        pages = [r for r in visit if not r["is_static"] and r["path"] is not None]
        count = sum(1 for r in visit if not r["is_static"])
        days[visit[0]["ts"].strftime("%Y-%m-%d")].append(
            (count, (visit[-1]["ts"] - visit[0]["ts"]).total_seconds()))
        if pages:
            entries[pages[0]["path"]] += 1
            exits[pages[-1]["path"]] += 1
    by_day = [{"dt": day, "visits": len(v),
               "pages_per_visit": round(sum(p for p, _ in v) / len(v), 2),
               "avg_visit_seconds": round(sum(t for _, t in v) / len(v), 1),
               "bounce_rate_pct": share(sum(1 for p, _ in v if p <= 1), len(v))}
              for day, v in sorted(days.items())]
    pages = sorted(({"path": p, "entries": entries[p], "exits": exits[p]}
                    for p in set(entries) | set(exits)),
                   key=lambda r: (-r["entries"], -r["exits"], r["path"]))
    return {"visits_by_day": by_day, "entry_exit_pages": pages[:50]}


class Detections:
    """queries/detections.json's patterns, run by Python's `re` on this script's own fields."""

    def __init__(self):
        path = os.path.join(ROOT, "queries", "detections.json")
        self.detections = [(d["name"], d["fields"], re.compile(d["pattern"]), d.get("status_4xx", False))
                           for d in json.load(open(path))["detections"]]

    def __call__(self, row):
        fields = {"target": (row["path"] or "") + ("?" + row["query"] if row["query"] is not None else ""),
                  "path": row["path"], "user_agent": row["user_agent"], "referrer": row["referrer"]}
        for name, names, pattern, only_4xx in self.detections:
            if only_4xx and not 400 <= row["status"] <= 499:
                continue
            if any(fields[f] is not None and pattern.search(fields[f].lower()) for f in names):
                return name
        return None


DETECTIONS = Detections()


def security_reports(all_rows):
    detected = [(DETECTIONS(r), r) for r in all_rows]
    detected = [(name, r) for name, r in detected if name]
    evidence = sorted(detected, key=lambda d: (-d[1]["ts"].timestamp(), d[1]["source"], d[1]["source_line"]))
    summary = by(detected, lambda d: d[0])
    # 4xx bursts: 20 or more 4xx answers to one client within one minute.
    errors = by([r for r in all_rows if 400 <= r["status"] <= 499],
                lambda r: (r["client_ip"], r["ts"].replace(second=0, microsecond=0)))
    bursts = [{"client_ip": k[0], "minute": k[1], "errors_4xx": len(g),
               "example_path": min((r["path"] for r in g if r["path"] is not None), default=None),
               "example_user_agent": min((r["user_agent"] for r in g if r["user_agent"] is not None), default=None)}
              for k, g in errors.items() if len(g) >= 20]
    return {
        "security_detections": [
            {"detection": name, "ts": r["ts"], "client_ip": r["client_ip"], "method": r["method"],
             "path": r["path"], "query": r["query"], "status": r["status"], "user_agent": r["user_agent"]}
            for name, r in evidence[:200]],
        "security_summary": sorted(
            ({"detection": name, "requests": len(g), "clients": len({r["client_ip"] for _, r in g}),
              "first_seen": min(r["ts"] for _, r in g), "last_seen": max(r["ts"] for _, r in g)}
             for name, g in summary.items()),
            key=lambda r: (-r["requests"], r["detection"])),
        "error_bursts": sorted(bursts, key=lambda b: (-b["errors_4xx"], b["minute"], b["client_ip"]))[:100],
    }


# --- comparing ---------------------------------------------------------------------------------

APPROXIMATE = {"visitors"}
# Rounded in SQL (half away from zero; half-even here), to this many places.
ROUNDED = {"share_pct": 2, "error_rate_pct": 2, "pages_per_visit": 2, "bounce_rate_pct": 2,
           "avg_visit_seconds": 1}


def same(column, ours, theirs):
    if isinstance(ours, datetime.datetime):
        # loglake prints RFC 3339 (`2021-09-30T07:58:05Z`)
        return theirs is not None and datetime.datetime.fromisoformat(theirs) == ours
    if column in APPROXIMATE:
        # HyperLogLog: within 2 % (DataFusion's and Athena's approx_distinct, standard error
        # 0.8 % and 2.3 %), exact on small sets.
        return abs(ours - theirs) <= max(1, 0.023 * ours)
    if column in ROUNDED:
        return abs(ours - theirs) <= 1.01 * 10 ** -ROUNDED[column]
    return ours == theirs


def compare_rows(name, expected, got):
    problems = []
    if len(expected) != len(got):
        problems.append(f"{len(got)} rows, re-count has {len(expected)}")
    for i, (want, have) in enumerate(zip(expected, got)):
        for column, value in want.items():
            if column not in have:
                problems.append(f"row {i}: no column {column}")
            elif not same(column, value, have[column]):
                problems.append(f"row {i} {column}: {have[column]!r}, re-count {value!r} ({want})")
    return problems


def compare_slowest(expected, got):
    problems = []
    ranked = sorted(expected)
    if len(got) != min(50, len(ranked)):
        problems.append(f"{len(got)} rows, re-count has {min(50, len(ranked))} paths with times")
    for row in got:
        want = expected.get(row["path"])
        if want is None:
            problems.append(f"{row['path']}: no timed request there")
            continue
        if row["requests"] != want["requests"]:
            problems.append(f"{row['path']}: {row['requests']} requests, re-count {want['requests']}")
        for column, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            # An approximate percentile (t-digest) lies between the exact ones a few ranks
            # either side.
            low = exact_percentile(want["times"], max(0.0, q - 0.02))
            high = exact_percentile(want["times"], min(1.0, q + 0.02))
            if not low - 1e-6 <= row[column] <= high + 1e-6:
                problems.append(f"{row['path']} {column}: {row[column]}, exact {low}–{high}")
    # The order is the report's own (by its p95): each row's p95 at least the next one's.
    p95 = [row["p95_ms"] for row in got]
    if any(a < b for a, b in zip(p95, p95[1:])):
        problems.append("not ordered by p95_ms")
    return problems


def query(binary, lake, name):
    run = subprocess.run([binary, "query", name, "--lake", lake, "--format", "json"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{name}: exit {run.returncode}: {run.stderr.strip()}")
    return json.loads(run.stdout)


def main():
    binary, logs = sys.argv[1], sys.argv[2:]
    enrichment = os.environ.get("LOGLAKE_ENRICHMENT_DIR")
    if not enrichment:
        raise SystemExit("LOGLAKE_ENRICHMENT_DIR: the country and network databases and crawler list")
    agents = Agents(os.path.join(enrichment, "crawler-user-agents.json"))
    countries = Countries(os.path.join(enrichment, "country.mmdb"))
    networks = Networks(enrichment)
    names = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "queries", "reports", "*.sql")))
    failures = 0
    for log in logs:
        expected_rows, unparsed = rows(log, agents, countries, networks)
        with tempfile.TemporaryDirectory() as lake:
            run = subprocess.run([binary, "ingest", "--json", "--out", lake, log],
                                 capture_output=True, check=True)
            summary = json.loads(run.stdout)
            lines = summary["rows_out"] + summary["rejected"]
            if (summary["rows_out"], lines) != (len(expected_rows), len(expected_rows) + unparsed):
                print(f"FAIL {log}: {summary['rows_out']} rows of {lines} lines, re-count "
                      f"{len(expected_rows)} of {len(expected_rows) + unparsed}")
                failures += 1
                continue
            if not expected_rows:
                print(f"{log}: no rows, as re-counted: no report to run")
                continue
            expected = recount(expected_rows)
            for name in names:
                if name in CANNOT_RECOUNT:
                    print(f"skip {name}: {CANNOT_RECOUNT[name]}")
                    continue
                if name not in expected:
                    print(f"FAIL {name}: no re-count here and no reason in CANNOT_RECOUNT")
                    failures += 1
                    continue
                got = query(binary, lake, name)
                problems = (compare_slowest(expected[name], got) if name == "slowest_paths"
                            else compare_rows(name, expected[name], got))
                if problems:
                    failures += 1
                    print(f"FAIL {name} on {log}:")
                    for problem in problems[:10]:
                        print(f"  {problem}")
        print(f"{log}: {len(expected_rows)} rows re-counted; {len(names)} reports compared")
    if failures:
        raise SystemExit(f"{failures} failed")
    print("every report matches the re-count")


if __name__ == "__main__":
    main()

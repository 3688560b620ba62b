#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (seeds/TARGET/NAME), committed so that every run starts
from inputs that reach deep into each reader. Run from anywhere; needs the `zstd` command.

Every input starts with a settings byte (see `decoder_options` in src/lib.rs): the low five bits
pick the format (0 auto, 1 combined, 2 common, 3 vhost_combined, 4 elb_classic, 5 alb,
6 cloudfront, 7 w3c), 0x20 keeps the other fields, the top two bits pick the anonymisation.
"""

import base64
import gzip
import hashlib
import json
import pathlib
import shutil
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
SEEDS = HERE / "seeds"

COMBINED = (
    b'203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 '
    b'"https://ref.example/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" 0.125'
)
COMMON = b'2001:db8::7 - frank [10/Oct/2026:13:55:36 +0200] "POST /login HTTP/1.0" 302 -'
VHOST = (
    b'shop.example.com:443 203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/2.0" '
    b'200 5 "-" "curl/8.5.0"'
)
ELB = (
    b'2026-10-10T13:55:36.094015Z my-elb 203.0.113.9:51234 10.0.0.7:80 0.000041 0.001048 '
    b'0.000057 200 200 0 2326 "GET http://shop.example.com:80/a?b=1 HTTP/1.1" "curl/8.5.0" - -'
)
ALB = (
    b'h2 2026-10-10T13:55:36.094015Z app/my-alb/50dc6c495c0c9188 203.0.113.9:51234 '
    b'10.0.0.7:80 0.000 0.012 0.000 200 200 48 2326 '
    b'"GET https://shop.example.com:443/a?b=1 HTTP/2.0" "curl/8.5.0" '
    b'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
    b'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067 '
    b'"Root=1-58337262-36d228ad5d99923122bbe354" "shop.example.com" "-" 0 '
    b'2026-10-10T13:55:36.081000Z "forward" "-" "-" "10.0.0.7:80 [2001:db8::1]:8080" "200 -" '
    b'"-" "-" TID_1c9b2d3e4f5a6b7c'
)
CLOUDFRONT = (
    b"#Version: 1.0\n"
    b"#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem "
    b"sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type "
    b"x-edge-request-id x-host-header cs-protocol cs-bytes time-taken\n"
    b"2026-10-10\t13:55:36\tLAX1\t2326\t203.0.113.9\tGET\td111.cloudfront.net\t/a\t200\t-\t"
    b"Mozilla/5.0%20(X11)\tb=1\t-\tHit\tSOX4xwn4XV6Q==\tshop.example.com\thttps\t23\t0.012"
)
W3C = (
    b"#Software: Microsoft Internet Information Services 10.0\n"
    b"#Date: 2026-10-10 13:55:36\n"
    b"#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    b"cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n"
    b"2026-10-10 13:55:36 10.0.0.5 GET /a b=1 443 - 203.0.113.9 Mozilla/5.0+(X11) "
    b"https://ref/ 200 0 0 12"
)
LINES = {1: COMBINED, 2: COMMON, 3: VHOST, 4: ELB, 5: ALB, 6: CLOUDFRONT, 7: W3C}
JUNK = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not a line \xff\xfe\r\n\n"


def settings(format_index, keep=False, anonymize=0):
    return bytes([format_index | (0x20 if keep else 0) | (anonymize << 6)])


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def kpl_protobuf(datas):
    body = field(1, b"partition-key")
    for data in datas:
        body += field(3, varint(1 << 3) + varint(0) + field(3, data))
    return body


def kpl_record(datas):
    body = kpl_protobuf(datas)
    return b"\xf3\x89\x9a\xc2" + body + hashlib.md5(body).digest()


def cloudwatch(messages, control=False):
    return json.dumps({
        "messageType": "CONTROL_MESSAGE" if control else "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/access",
        "logStream": "web-1",
        "subscriptionFilters": ["to-kinesis"],
        "logEvents": [
            {"id": str(i), "timestamp": 1791640536000 + i, "message": m}
            for i, m in enumerate(messages)
        ],
    }).encode()


def kinesis_event(datas):
    return json.dumps({"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "k",
            "sequenceNumber": f"4959000000000000000000000000000000000000000000000000000{i}",
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1791640536.5,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:4959000000000000000000000000000000000000000000000000000{i}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/access-logs",
    } for i, data in enumerate(datas)]}).encode()


def firehose_event(datas):
    return json.dumps({
        "invocationId": "invocation-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/lake",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/access-logs",
        "region": "us-east-1",
        "records": [{
            "recordId": f"record-{i}",
            "approximateArrivalTimestamp": 1791640536500,
            "data": base64.b64encode(data).decode(),
            "kinesisRecordMetadata": {
                "sequenceNumber": str(i), "subsequenceNumber": "", "partitionKey": "k",
                "shardId": "shardId-000000000000", "approximateArrivalTimestamp": 1791640536500,
            },
        } for i, data in enumerate(datas)],
    }).encode()


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c"], input=data, check=True, capture_output=True).stdout


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    seeds = {target: {} for target in [
        "decode_lines", "custom_format", "kinesis_event", "record_payload", "kpl_aggregate",
        "cloudwatch_envelope", "stored_source", "firehose_transform"]}
    two = lambda line: line + b"\n" + line.split(b"\n")[-1] + b"\n"
    for index, line in LINES.items():
        name = ["", "combined", "common", "vhost", "elb", "alb", "cloudfront", "w3c"][index]
        seeds["decode_lines"][name] = settings(index, keep=True, anonymize=index % 3) + b"\x40" + two(line)
        seeds["decode_lines"][f"auto-{name}"] = settings(0) + b"\x07" + line + b"\n" + JUNK
        seeds["stored_source"][f"{name}.gz"] = settings(index, keep=True) + gzip.compress(two(line))
    seeds["stored_source"]["plain"] = settings(1) + COMBINED + b"\n" + JUNK + COMBINED
    seeds["stored_source"]["combined.zst"] = settings(1) + zstd(two(COMBINED) + JUNK)
    seeds["stored_source"]["members.gz"] = settings(2) + gzip.compress(COMMON) + gzip.compress(b"\n" + COMMON)

    seeds["custom_format"]["nginx"] = b"\x00" + (
        b'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        b'"$http_referer" "$http_user_agent" $request_time $upstream_addr\n'
        + COMBINED[:-6] + b' 0.125 10.0.0.7:80\n' + JUNK)
    seeds["custom_format"]["nginx-iso"] = b"\x00" + (
        b'$time_iso8601 $remote_addr $host "$request" $status $bytes_sent $http_x_forwarded_for\n'
        b'2026-10-10T13:55:36+02:00 203.0.113.9 shop.example.com "GET /a HTTP/1.1" 200 12 '
        b'198.51.100.7, 10.0.0.1\n')
    seeds["custom_format"]["apache"] = b"\x01" + (
        b'%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %{X-Forwarded-For}i\n'
        + COMBINED[:-6] + b' 125000 198.51.100.7\n')
    seeds["custom_format"]["apache-strftime"] = b"\x01" + (
        b'%{%Y-%m-%d %H:%M:%S}t %a %m %U%q %H %s %O %T\n'
        b'2026-10-10 13:55:36 203.0.113.9 GET /a?b=1 HTTP/1.1 200 2326 1\n')

    gz_lines = gzip.compress(two(COMBINED))
    cw = cloudwatch([COMBINED.decode(), ALB.decode(errors="replace")])
    for name, data in {
        "plain": two(COMBINED) + JUNK,
        "gzip": gz_lines,
        "cloudwatch": gzip.compress(cw),
        "control": gzip.compress(cloudwatch([], control=True)),
        "kpl": kpl_record([two(ALB), gz_lines, gzip.compress(cw)]),
        "cut-gzip": gz_lines[:-7],
        # `loglake ship`'s sections: a header naming the file and first line, then its lines
        "shipped": (b"\x1eloglake-ship 1 41 web-1:/var/log/access.log*#9583d9aa14c1\n" + two(COMBINED)
                    + b"\x1eloglake-ship 1 7 web-1:/var/log/other.log#00\n" + JUNK),
    }.items():
        seeds["record_payload"][name] = settings(0, keep=True) + data
    seeds["kpl_aggregate"]["three"] = settings(0, keep=True) + kpl_protobuf([two(ALB), gz_lines, two(COMMON)])
    seeds["kpl_aggregate"]["one"] = settings(1) + kpl_protobuf([COMBINED])
    seeds["cloudwatch_envelope"]["data"] = settings(0, keep=True) + cw
    seeds["cloudwatch_envelope"]["control"] = settings(0) + cloudwatch([], control=True)
    seeds["kinesis_event"]["records"] = settings(0, keep=True) + kinesis_event(
        [two(COMBINED), gzip.compress(cw), kpl_record([ALB])])
    seeds["kinesis_event"]["bad-base64"] = settings(1) + kinesis_event([COMBINED]).replace(b'"data": "', b'"data": "*')
    seeds["firehose_transform"]["records"] = settings(0, keep=True, anonymize=1) + firehose_event(
        [two(COMBINED), gzip.compress(cw), gzip.compress(cloudwatch([], control=True)), JUNK, b""])

    for target, files in seeds.items():
        (SEEDS / target).mkdir(parents=True)
        for name, data in files.items():
            (SEEDS / target / name).write_bytes(data)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference decoders for the payload-format agreement tests (Tests/PayloadFormatsTests).

  format-oracle.py generate DIR [--count N] [--seed S]
      writes DIR/sparkplug-N.bin and DIR/senml-N.cbor, encoded by the reference libraries
      (protobuf with pysparkplug's Sparkplug B schema, cbor2), and DIR/expected.jsonl with
      what each must decode to.
  format-oracle.py check DIR
      decodes DIR/swift-*.bin (Sparkplug) and DIR/swift-*.cbor (SenML), written by the Swift
      encoders, with the reference libraries, and compares them with DIR/swift-expected.jsonl.

Needs the PyPI packages pysparkplug, protobuf and cbor2 (scripts/install-deps.sh installs them).
"""
import json
import math
import os
import random
import struct
import sys

try:
    import cbor2
    from pysparkplug._protobuf import sparkplug_b_pb2 as pb
except ImportError as error:  # the Swift test turns this into a clear failure
    print(f"missing Python package: {error.name}; run scripts/install-deps.sh "
          "(pip install pysparkplug protobuf cbor2)", file=sys.stderr)
    sys.exit(3)

# Sparkplug B data types (specification 6.4.16) and the field each is carried in.
INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, FLOAT, DOUBLE, BOOLEAN, STRING = range(1, 13)
FLOAT_ARRAY, DOUBLE_ARRAY, INT16_ARRAY = 30, 31, 23


def sparkplug_case(rng, n):
    """A payload with metrics of random types; the expected gauge value of each."""
    payload = pb.Payload()
    payload.timestamp = 1_765_000_000_000 + rng.randrange(10**9)
    payload.seq = rng.randrange(256)
    expected = []
    for i in range(rng.randrange(1, 8)):
        m = payload.metrics.add()
        m.name = f"m{i}"
        if rng.random() < 0.5:
            m.alias = rng.randrange(1, 1000)
        if rng.random() < 0.3:
            m.timestamp = payload.timestamp - rng.randrange(5000)
        kind = rng.choice([INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, FLOAT, DOUBLE, BOOLEAN, STRING,
                           FLOAT_ARRAY, DOUBLE_ARRAY, INT16_ARRAY, "null"])
        if kind == "null":
            m.datatype = DOUBLE
            m.is_null = True
            expected.append({"name": m.name, "null": True})
            continue
        m.datatype = kind
        if kind in (INT8, INT16, INT32):
            bits = {INT8: 8, INT16: 16, INT32: 32}[kind]
            v = rng.randrange(-(2 ** (bits - 1)), 2 ** (bits - 1))
            # Both encodings in the wild: the value's own width in two's complement
            # (pysparkplug) and sign-extended to 32 bits (Eclipse Tahu).
            m.int_value = v + 2**bits if v < 0 and rng.random() < 0.5 else v % 2**32
            expected.append({"name": m.name, "number": v})
        elif kind in (UINT8, UINT16):
            v = rng.randrange(2 ** (8 if kind == UINT8 else 16))
            m.int_value = v
            expected.append({"name": m.name, "number": v})
        elif kind == UINT32:
            v = rng.randrange(2**32)
            m.int_value = v
            expected.append({"name": m.name, "number": v})
        elif kind == INT64:
            v = rng.randrange(-(2**53), 2**53)
            m.long_value = v % 2**64
            expected.append({"name": m.name, "number": v})
        elif kind == UINT64:
            v = rng.randrange(2**53)
            m.long_value = v
            expected.append({"name": m.name, "number": v})
        elif kind == FLOAT:
            v = struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]
            m.float_value = v
            expected.append({"name": m.name, "number": v})
        elif kind == DOUBLE:
            v = rng.uniform(-1e9, 1e9)
            m.double_value = v
            expected.append({"name": m.name, "number": v})
        elif kind == BOOLEAN:
            v = rng.random() < 0.5
            m.boolean_value = v
            expected.append({"name": m.name, "bool": v})
        elif kind == STRING:
            v = rng.choice(["running", "泵运行", "", "a/b"])
            m.string_value = v
            expected.append({"name": m.name, "text": v})
        else:
            fmt, width = {FLOAT_ARRAY: ("f", 4), DOUBLE_ARRAY: ("d", 8), INT16_ARRAY: ("h", 2)}[kind]
            values = [rng.uniform(-100, 100) if fmt != "h" else rng.randrange(-32768, 32768) for _ in range(rng.randrange(0, 20))]
            raw = struct.pack("<" + fmt * len(values), *values)
            m.bytes_value = raw
            decoded = list(struct.unpack("<" + fmt * len(values), raw))
            expected.append({"name": m.name, "block": decoded})
    return payload.SerializeToString(), {"file": f"sparkplug-{n}.bin", "timestamp": payload.timestamp, "seq": payload.seq,
                                          "metrics": expected}


SENML_LABELS = {"bver": -1, "bn": -2, "bt": -3, "bu": -4, "bv": -5, "bs": -6,
                "n": 0, "u": 1, "v": 2, "vs": 3, "vb": 4, "s": 5, "t": 6, "ut": 7, "vd": 8}


def senml_case(rng, n):
    """A SenML pack with base fields; the records resolved as RFC 8428 section 4.6 says."""
    records = []
    resolved = []
    bn, bt, bu, bv = "", 0.0, None, 0.0
    for i in range(rng.randrange(1, 7)):
        r = {}
        if i == 0 or rng.random() < 0.2:
            bn = rng.choice(["sz-ps3/pump-01/", "urn:dev:ow:10e2073a01080063:", ""])
            r["bn"] = bn
        if i == 0 or rng.random() < 0.2:
            bt = rng.choice([1.765e9 + rng.randrange(10**6), 0.0, -30.0, 1.7650001234e9])
            r["bt"] = bt
        if rng.random() < 0.3:
            bu = rng.choice(["Cel", "bar", "A"])
            r["bu"] = bu
        if rng.random() < 0.2:
            bv = rng.choice([0.0, 10.0, 0.5])
            r["bv"] = bv
        name = f"s{i}" if bn or rng.random() < 0.9 else f"x{i}"
        r["n"] = name
        t = rng.choice([0.0, -5.0, 1.5, 0.25])
        if t:
            r["t"] = t
        u = rng.choice([None, "Cel", "mm/s"])
        if u:
            r["u"] = u
        kind = rng.choice(["v", "v", "v", "vb", "vs"])
        if kind == "v":
            v = rng.choice([rng.uniform(-1000, 1000), float(rng.randrange(-100, 100)), 0.1, 65504.0, 1e-7])
            r["v"] = v
            value = {"number": bv + v}
        elif kind == "vb":
            r["vb"] = rng.random() < 0.5
            value = {"bool": r["vb"]}
        else:
            r["vs"] = rng.choice(["on", "开"])
            value = {"text": r["vs"]}
        time = bt + t
        resolved.append({"name": bn + name, "unit": u or bu, **value,
                         "time": {"relative" if time < 2**28 else "absolute": time}})
        records.append({SENML_LABELS[k]: val for k, val in r.items()})
    canonical = rng.random() < 0.5  # shortest float encodings (half and single) or doubles throughout
    return cbor2.dumps(records, canonical=canonical), {"file": f"senml-{n}.cbor", "records": resolved}


def generate(directory, count, seed):
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "expected.jsonl"), "w") as out:
        for n in range(count):
            for make in (sparkplug_case, senml_case):
                data, expected = make(rng, n)
                with open(os.path.join(directory, expected["file"]), "wb") as f:
                    f.write(data)
                out.write(json.dumps(expected, ensure_ascii=False) + "\n")


def close(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12))


def check(directory):
    problems = []
    checked = 0
    with open(os.path.join(directory, "swift-expected.jsonl")) as f:
        for line in f:
            case = json.loads(line)
            with open(os.path.join(directory, case["file"]), "rb") as data:
                raw = data.read()
            checked += 1
            if case["file"].endswith(".bin"):
                payload = pb.Payload()
                payload.ParseFromString(raw)
                got = []
                for m in payload.metrics:
                    entry = {"name": m.name, "alias": m.alias if m.HasField("alias") else None}
                    field = m.WhichOneof("value")
                    if field == "double_value":
                        entry["number"] = m.double_value
                    elif field == "bytes_value" and m.datatype == FLOAT_ARRAY:
                        entry["block"] = list(struct.unpack("<" + "f" * (len(m.bytes_value) // 4), m.bytes_value))
                    elif field == "long_value":
                        entry["number"] = m.long_value
                    elif field == "boolean_value":
                        entry["bool"] = m.boolean_value
                    got.append(entry)
                want = case["metrics"]
                if payload.timestamp != case["timestamp"] or (case.get("seq") is not None and payload.seq != case["seq"]):
                    problems.append(f"{case['file']}: timestamp/seq {payload.timestamp}/{payload.seq} != {case['timestamp']}/{case.get('seq')}")
            else:
                records = cbor2.loads(raw)
                got = []
                base_name, base_time = "", 0.0
                for r in records:
                    base_name = r.get(-2, base_name)
                    base_time = r.get(-3, base_time)
                    got.append({"name": base_name + r.get(0, ""), "unit": r.get(1), "number": r.get(2), "time": base_time + r.get(6, 0)})
                want = case["records"]
            if len(got) != len(want) or not all(
                all(close(g.get(k), w.get(k)) if not isinstance(w.get(k), list) else
                    len(g.get(k) or []) == len(w[k]) and all(close(x, y) for x, y in zip(g[k], w[k])) for k in w)
                for g, w in zip(got, want)
            ):
                problems.append(f"{case['file']}: decoded {got} but the Swift encoder meant {want}")
    for p in problems:
        print(p)
    print(f"checked {checked} payloads, {len(problems)} disagreement(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "generate":
        count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 200
        seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
        generate(sys.argv[2], count, seed)
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2]))
    else:
        print(__doc__)
        sys.exit(2)

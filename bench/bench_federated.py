"""Federated training benchmark: accuracy against centralised training, and time at scale.

Runs in the federated environment (Flower pins packages the core does not)::

    .venv-federated/bin/python bench/bench_federated.py            # ~10 minutes on 2 cores
    .venv-federated/bin/python bench/bench_federated.py --quick    # ~4 minutes

Three measurements, all through Flower's simulation engine with the real ClientApp and
ServerApp, each against the centralised yardstick (the same model trained on the pooled client
data for as many passes as each client makes: ``rounds x local_epochs`` epochs), measured in
the same run:

* ``natural``: 10 sites, each with its own label mix (the plant's own non-uniformity), FedAvg;
* ``non-IID``: 10 clients with Dirichlet(alpha) label skew, FedAvg vs FedProx vs FedAdam, over
  several seeds (the final round of a skewed run swings by several points; the table gives the
  mean of the final round and of the last three rounds);
* ``scale``: 50 virtual clients x 10 rounds of the sensor model on this machine's cores, wall
  time and peak resident memory of this process tree's children (Ray workers included).

Optionally (``--deployment``) a 3-SuperNode deployment-engine run of the natural case on
loopback, for the engine's overhead per round. Writes ``bench-federated/*.csv``/``.png`` and
prints one markdown table per measurement.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

import numpy as np

from sciot.federated import FederatedSettings, plot_metrics, run_federated, train_centralised


def _run(name: str, settings: FederatedSettings, out: Path, engine: str = "simulation") -> dict:
    run_dir = out / name
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.monotonic()
    result = run_federated(settings.with_out_dir(run_dir), engine=engine)  # type: ignore[arg-type]
    wall = time.monotonic() - started
    return {"name": name, "result": result, "wall_s": wall}


def _row(label: str, fed: dict, central_acc: float) -> str:
    final = fed["result"].final
    return (
        f"| {label} | {final.accuracy:.3f} | {central_acc:.3f} | "
        f"{(final.accuracy - central_acc) * 100:+.1f} | {final.f1:.3f} | {fed['wall_s']:.0f} |"
    )


def _natural(rounds: int, out: Path, header: str, rule: str, report: dict) -> None:
    natural = FederatedSettings(clients=10, rounds=rounds, export=False)
    central = train_centralised(natural)
    fed = _run("natural-fedavg", natural, out)
    plot_metrics(
        {"federated (fedavg)": list(fed["result"].rounds), "centralised": central},
        out / "natural.png",
    )
    print("\n### natural site mix, 10 sites\n")
    print(header)
    print(rule)
    print(_row(f"fedavg, {rounds} rounds", fed, central[-1].accuracy))
    report["natural"] = {"federated": fed["result"].final.accuracy, "central": central[-1].accuracy}


def _noniid(args: argparse.Namespace, rounds: int, out: Path, report: dict) -> None:
    print(f"\n### non-IID: Dirichlet alpha {args.alpha}, 10 clients, seeds {args.seeds}\n")
    print(
        "| strategy | federated acc, final | federated acc, mean of last 3 rounds "
        "| centralised acc | gap (points, final) | wall s per run |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    curves: dict[str, list] = {}
    centrals = []
    for seed in range(args.seeds):
        skew = FederatedSettings(
            clients=10, rounds=rounds, alpha=args.alpha, seed=seed, export=False
        )
        centrals.append(train_centralised(skew)[-1].accuracy)
        if seed == 0:
            curves["centralised"] = train_centralised(skew)
    central_acc = float(np.mean(centrals))
    for strategy in ("fedavg", "fedprox", "fedadam"):
        finals, tails, walls = [], [], []
        for seed in range(args.seeds):
            settings = FederatedSettings(
                clients=10,
                rounds=rounds,
                alpha=args.alpha,
                strategy=strategy,
                seed=seed,
                export=False,
            )
            run = _run(f"noniid-{strategy}-seed{seed}", settings, out)
            rows = run["result"].rounds
            finals.append(rows[-1].accuracy)
            tails.append(float(np.mean([r.accuracy for r in rows[-3:]])))
            walls.append(run["wall_s"])
            if seed == 0:
                curves[strategy] = list(rows)
        final = float(np.mean(finals))
        print(
            f"| {strategy} | {final:.3f} | {float(np.mean(tails)):.3f} | {central_acc:.3f} | "
            f"{(final - central_acc) * 100:+.1f} | {float(np.mean(walls)):.0f} |"
        )
        report[f"noniid_{strategy}"] = {"final": finals, "last3": tails}
    report["noniid_central"] = centrals
    plot_metrics(curves, out / "noniid.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer rounds, no 50-client run.")
    parser.add_argument("--deployment", action="store_true", help="Add a deployment-engine run.")
    parser.add_argument("--alpha", type=float, default=0.3, help="Dirichlet alpha (non-IID).")
    parser.add_argument(
        "--noniid-only", action="store_true", help="Only the non-IID strategy comparison."
    )
    parser.add_argument("--seeds", type=int, default=3, help="Seeds of the non-IID runs.")
    parser.add_argument("--out", type=Path, default=Path("bench-federated"))
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rounds = 5 if args.quick else 10
    header = "| run | federated acc | centralised acc | gap (points) | federated F1 | wall s |"
    rule = "|---|---:|---:|---:|---:|---:|"
    report: dict[str, object] = {}

    if not args.noniid_only:
        _natural(rounds, out, header, rule, report)
    _noniid(args, rounds, out, report)
    if args.noniid_only:
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        return 0
    if not args.quick:
        scale = FederatedSettings(clients=50, rounds=10, export=True)
        run = _run("scale-50x10", scale, out)
        self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        final = run["result"].final
        print("\n### scale: 50 virtual clients x 10 rounds, simulation engine\n")
        print("| clients x rounds | wall s | s per round | accuracy | driver peak RSS MB |")
        print("|---|---:|---:|---:|---:|")
        per_round = (final.elapsed_s - run["result"].rounds[0].elapsed_s) / 10
        print(
            f"| 50 x 10 | {run['wall_s']:.0f} | {per_round:.1f} | {final.accuracy:.3f} | "
            f"{self_mb:.0f} |"
        )
        report["scale"] = {"wall_s": run["wall_s"], "accuracy": final.accuracy}

    if args.deployment:
        settings = FederatedSettings(clients=3, rounds=3, export=False)
        run = _run("deployment-3", settings, out, engine="deployment")
        rows = run["result"].rounds
        print("\n### deployment engine: SuperLink + 3 SuperNodes on loopback, 3 rounds\n")
        print("| wall s | s per round | accuracy |")
        print("|---:|---:|---:|")
        per_round = (rows[-1].elapsed_s - rows[0].elapsed_s) / 3
        print(f"| {run['wall_s']:.0f} | {per_round:.1f} | {rows[-1].accuracy:.3f} |")
        report["deployment"] = {"wall_s": run["wall_s"], "per_round_s": per_round}

    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The seeded soak: random steps of cloud churn and faults, invariants after each.

Each step makes one random change of the cloud (``world.change_metadata``) and runs
the tool in one random way (``MODES``): plainly, twice at once, with a SIGTERM at a
random moment, with one fault of the matrix, around a NetworkManager restart, with
a NIC unplugged mid-run, or while another client keeps changing a connection.  The
kernel is watched during the runs (``harness.monitor``) and checked after them
(``harness.soak.checks``).  Step N's choices come from ``random.Random(f"{seed}:{N}")``
and the model, never from what was observed, so a seed replays its steps.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from harness.monitor import KernelWatch
from harness.soak import world as cloud
from harness.soak.checks import Checker, expected
from harness.soak.faults import FAULTS, Fault
from harness.soak.vm import Result, Vm
from harness.soak.world import SLOTS, World

MODES = {  # mode -> weight, per backend
    "nm": {"plain": 30, "twice": 8, "sigterm": 14, "fault": 28, "restart": 4,
           "restart-mid-run": 3, "unplug-mid-run": 3, "storm": 3},
    "netlink": {"plain": 34, "twice": 10, "sigterm": 18, "fault": 32, "unplug-mid-run": 4},
}


@dataclass
class Summary:
    backend: str
    seed: int
    steps: int = 0
    runs: int = 0
    faults: int = 0
    checks: int = 0
    events: int = 0
    violations: List[str] = field(default_factory=list)
    slowest: Tuple[float, int, str] = (0.0, 0, "")
    modes: Dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        wall, step, mode = self.slowest
        return (f"soak {self.backend} seed {self.seed}: {self.steps} steps, {self.runs} runs, "
                f"{self.faults} faults injected, {self.checks} invariant checks "
                f"({self.events} kernel events watched), {len(self.violations)} violations, "
                f"slowest run {wall:.2f} s (step {step}, {mode})")


@dataclass
class Step:
    number: int
    rng: random.Random
    change: Optional[str]
    mode: str
    results: List[Result] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)  # the state around the run, for a report
    fault: Optional[Fault] = None
    signalled: bool = False
    disrupted: bool = False  # NetworkManager restarted: it may drop what it had applied
    # Another client reapplied meanwhile: nmcli drops addresses NetworkManager does not know
    # (those it forgot in a restart, until the tool's next run hands them back).
    interfered: bool = False


def soak(backend: str, seed: int, steps: int, say: Callable[[str], None] = print,
         keep_going: bool = False, verbose: bool = False) -> Summary:
    summary = Summary(backend, seed)
    checker = Checker()
    world = World.start()
    with Vm(backend) as vm:
        start_profiles = vm.profiles()
        for number in range(steps + 1):  # step 0: the first run, from DHCP primaries only
            rng = random.Random(f"{seed}:{number}")
            change = cloud.change_metadata(world, rng) if number else None
            mode = "plain" if number == 0 else rng.choices(
                list(MODES[backend]), list(MODES[backend].values()))[0]
            step = Step(number, rng, change, mode)
            before_count = len(checker.violations)
            _one_step(vm, world, step, checker, start_profiles, summary)
            if verbose:
                say(f"step {number}: {change or 'no change'}; {mode}{_fault_name(step)}: exit "
                    + ", ".join(f"{r.returncode} ({r.wall:.2f} s)" for r in step.results))
            summary.steps = number
            summary.modes[mode] = summary.modes.get(mode, 0) + 1
            for result in step.results:
                summary.runs += 1
                if result.wall > summary.slowest[0]:
                    summary.slowest = (result.wall, number, mode)
            if len(checker.violations) > before_count:
                new = checker.violations[before_count:]
                say(f"VIOLATION at step {number} (backend {backend}, seed {seed}; change: "
                    f"{change}; mode: {mode}{_fault_name(step)}):\n  " + "\n  ".join(new))
                for result in step.results:
                    say(f"-- run (exit {result.returncode}):\n{_tail(result.stdout)}\n"
                        f"{result.stderr}")
                say("\n".join(step.notes))
                say(f"  replay: python bench/soak.py --backend {backend} --seed {seed} "
                    f"--steps {number}")
                if not keep_going:
                    break
    summary.checks, summary.violations = checker.checks, checker.violations
    return summary


def _one_step(vm: Vm, world: World, step: Step, checker: Checker,
              start_profiles: Dict[str, str], summary: Summary) -> None:
    if step.change and step.change.split()[0] in ("plug", "unplug"):
        slot = int(step.change.split()[1][3:]) - 1
        (vm.plug if step.change.startswith("plug") else vm.unplug)(slot)
    if step.mode == "restart":  # between runs: the run after it must converge
        vm.restart_nm(sorted(world.plugged))
    plugged = sorted(world.plugged)
    wanted = expected(world, vm.backend)
    checker.remember(wanted)
    before = vm.seen(plugged)
    with KernelWatch(vm.sandbox, {n: s.ifname for n, s in enumerate(SLOTS)}) as watch:
        RUNNERS[step.mode if step.mode != "restart" else "plain"](vm, world, step)
        vm.settle()
    summary.events += watch.timeline.events
    summary.faults += step.fault is not None
    checker.checks += watch.timeline.events
    checker.violations += watch.timeline.violations
    plugged = sorted(world.plugged)
    names = [SLOTS[n].ifname for n in plugged]
    after = vm.seen(plugged)
    step.notes += [f"before {n}: {c}" for n, c in before.nics.items()]
    step.notes += [f"after {n}: {c}" for n, c in after.nics.items()]
    if vm.backend == "nm":
        step.notes += [f"applied {n}: {a}" for n, a in vm.applied().items()]
    checker.always(after, vm.profiles(), start_profiles, step.results)
    if not step.disrupted and not step.interfered:
        checker.nothing_lost(before, after, wanted, world)
    healthy = _judge(checker, step)
    if healthy and not step.disrupted:
        checker.converged(after, before, wanted, names,
                          vm.applied() if vm.backend == "nm" else None)
        if step.mode != "unplug-mid-run":  # the next run removes what the NIC left
            checker.no_stale_tables(after, plugged)


def _judge(checker: Checker, step: Step) -> bool:
    """Check the exit statuses tell the truth; True when the runs claim success."""
    ok = True
    for result in step.results:
        output = result.stdout + result.stderr
        status = result.returncode
        if step.fault is not None and step.fault.status is not None:
            checker.expect(status == step.fault.status, f"{step.fault.name}: exit {status}, "
                           f"expected {step.fault.status}")
        if step.fault is not None and status and step.fault.text:
            checker.expect(step.fault.text in output, f"{step.fault.name}: "
                           f"{step.fault.text!r} not in the output")
        if status == 1 and step.signalled:
            checker.expect("cancelled by SIGTERM" in result.stderr or step.mode != "sigterm",
                           f"SIGTERM, and the error does not say so: {result.stderr.strip()}")
        quiet = step.fault is None and not step.signalled and step.mode in ("plain", "twice",
                                                                             "restart")
        if quiet:
            checker.expect(status == 0, f"exit {status} from a healthy run: "
                           f"{result.stderr.strip()}")
        checker.expect(status in (0, 1) or (status == -signal.SIGTERM and step.signalled),
                       f"exit status {status}")
        ok = ok and status == 0
    return ok


# -- the ways of running the tool -------------------------------------------------------

def _plain(vm: Vm, world: World, step: Step) -> None:
    vm.serve(world.scenario())
    step.results.append(vm.finish(*vm.start_tool()))


def _twice(vm: Vm, world: World, step: Step) -> None:
    vm.serve(world.scenario())
    first, second = vm.start_tool(), vm.start_tool()
    step.results += [vm.finish(*first), vm.finish(*second)]


def _sigterm(vm: Vm, world: World, step: Step) -> None:
    vm.serve(world.scenario(), latency=step.rng.uniform(0, 0.04))
    proc, started = vm.start_tool()
    time.sleep(step.rng.uniform(0.05, 0.8))
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        step.signalled = True
    step.results.append(vm.finish(proc, started))


def _fault(vm: Vm, world: World, step: Step) -> None:
    macs = [SLOTS[n].mac for n in world.configured()]
    choices = [f for f in FAULTS if macs or not f.per_nic]
    fault = step.rng.choices(choices, [f.weight for f in choices])[0]
    mac = step.rng.choice(macs) if macs else SLOTS[0].mac
    scenario = world.scenario()
    if fault.mutate is not None:
        fault.mutate(scenario, mac)
    step.fault = Fault(fault.name, fault.status, fault.text.replace("{mac}", mac))
    vm.serve(scenario, fault.rules(mac))
    step.results.append(vm.finish(*vm.start_tool()))
    vm.serve(world.scenario())


def _restart_mid_run(vm: Vm, world: World, step: Step) -> None:
    vm.serve(world.scenario(), latency=0.02)
    delay = step.rng.uniform(0.0, 0.5)
    proc, started = vm.start_tool()
    time.sleep(delay)
    vm.restart_nm(sorted(world.plugged))
    step.disrupted = True
    step.results.append(vm.finish(proc, started))


def _unplug_mid_run(vm: Vm, world: World, step: Step) -> None:
    hot = [n for n in world.plugged if SLOTS[n].hot]
    vm.serve(world.scenario(), latency=0.03)
    proc, started = vm.start_tool()
    time.sleep(step.rng.uniform(0.1, 0.5))
    if hot:
        slot = step.rng.choice(hot)
        vm.unplug(slot)
        world.plugged.discard(slot)
        world.kept.pop(slot, None)
    step.fault = Fault("unplug-mid-run", None, "")
    step.results.append(vm.finish(proc, started))


def _storm(vm: Vm, world: World, step: Step) -> None:
    """Another client reapplies eth2 over and over meanwhile (version-id mismatches).

    Not eth1: ``nmcli device modify`` reapplies without preserving external addresses,
    and the administrator's own address sits on eth1."""
    vm.serve(world.scenario())
    stop = threading.Event()

    def storm() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            subprocess.run(["nmcli", "device", "modify", "eth2", "ipv4.dns-priority",
                            str(number % 100 + 1)], env=vm.sandbox.env(), capture_output=True)

    thread = threading.Thread(target=storm, daemon=True)
    thread.start()
    try:
        step.results.append(vm.finish(*vm.start_tool()))
    finally:
        stop.set()
        thread.join(timeout=30)
    step.fault = Fault("storm", None, "")
    step.interfered = True


RUNNERS = {"plain": _plain, "twice": _twice, "sigterm": _sigterm, "fault": _fault,
           "restart-mid-run": _restart_mid_run, "unplug-mid-run": _unplug_mid_run,
           "storm": _storm}


def _fault_name(step: Step) -> str:
    return f" ({step.fault.name})" if step.fault is not None else ""


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])

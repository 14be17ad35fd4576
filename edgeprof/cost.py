"""The cost model: USD per million inferences from a device profile's [cost] table and a Result's figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgeprof.constraints import value_at
from edgeprof.result import Result

if TYPE_CHECKING:
    from edgeprof.devices import CostConfig

J_PER_KWH = 3.6e6


def cost_per_million(result: dict[str, Any], cost: CostConfig | None) -> float | None:
    """USD per million inferences: the hardware amortised over its lifetime at the measured throughput (busy the
    whole time), plus the energy at the profile's price; None without a [cost] table or the figures it needs."""
    if cost is None:
        return None
    ips = value_at(result, "latency.throughput_ips")
    energy_mj = value_at(result, "power.energy_mj_per_inference")
    if not ips or (energy_mj is None and cost.energy_usd_per_kwh):
        return None
    hardware = cost.hardware_usd / (cost.lifetime_hours * 3600.0 * float(ips)) if cost.lifetime_hours else 0.0
    energy = float(energy_mj or 0.0) / 1000.0 / J_PER_KWH * cost.energy_usd_per_kwh
    return (hardware + energy) * 1e6


def cost_section(result: dict[str, Any], cost: CostConfig | None) -> dict[str, Any]:
    """The Result's `cost` section; its method follows the weakest input (emulated timing, estimated energy)."""
    value = cost_per_million(result, cost)
    if value is None:
        reason = "no [cost] table in the device profile" if cost is None else "needs throughput and energy figures"
        return {"method": "none", "usd_per_million": None, "reason": reason}
    view = Result(result)
    latency = str(view.latency.get("method") or "measured")
    power = str(view.power.get("method") or "none")
    weakest = latency if latency.startswith("emulated") else power if power.startswith("estimate") else "derived"
    return {"method": f"{weakest.split(':')[0]}:cost-model", "usd_per_million": value,
            "inputs": {"latency": latency, "power": power}, "assumes": "the device is busy its whole lifetime"}

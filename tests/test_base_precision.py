"""The embedded base's pretraining precision follows the CPU: bf16 only where it is native."""

import pytest

from ablate.base import precision
from ablate.base.config import get_config


@pytest.mark.parametrize("flags, want", [({"avx2", "avx512_bf16"}, "bf16"), ({"avx2", "amx_bf16"}, "bf16"),
                                         ({"avx2", "avx512f"}, "fp32"), (set(), "fp32")])
def test_auto_resolves_by_cpu_flags(monkeypatch, flags, want):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.resolve_precision("auto") == want
    assert get_config("micro").precision == want  # get_config hands out the resolved config


def test_explicit_precision_wins_and_is_part_of_the_identity(monkeypatch):
    from ablate.base.pretrain import build_key

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    fp32, bf16 = get_config("micro"), get_config("micro", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert build_key(fp32, ["x"]) != build_key(bf16, ["x"])
    # "auto" is never hashed: an auto config keys like its resolved precision
    from dataclasses import replace

    assert build_key(replace(fp32, precision="auto"), ["x"]) == build_key(fp32, ["x"])


def test_unknown_precision_is_a_user_error():
    from ablate.core import UserError

    with pytest.raises(UserError, match="precision"):
        precision.resolve_precision("fp8")


def test_doctor_reports_cpu_and_precision():
    from ablate.doctor import collect

    cpu = collect()["cpu"]
    assert cpu["base_precision"] in ("bf16", "fp32") and "native_bf16" in cpu

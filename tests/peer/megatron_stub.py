"""A stand-in for the one Megatron name that Megatron-DeepSpeed checkpoints pickle.

The `args` object in every `mp_rank_XX_model_states.pt` holds `megatron.core.enums.ModelType`. Megatron is not
installed beside the test peer, so `torch.load` could not read those files, nor could a script write one. `install()`
registers a module of that name holding this enum (the real members and values, pickled under the real name). Scripts
call it before they load or save such a file; forked worker processes inherit it.
"""
import enum
import sys
import types


class ModelType(enum.Enum):
    encoder_or_decoder = 1
    encoder_and_decoder = 2
    retro_encoder = 3
    retro_decoder = 4


ModelType.__module__ = "megatron.core.enums"


def install():
    """Registers megatron, megatron.core and megatron.core.enums (once) and returns ModelType."""
    if "megatron.core.enums" in sys.modules:
        return sys.modules["megatron.core.enums"].ModelType
    megatron, core, enums = (types.ModuleType(n) for n in ("megatron", "megatron.core", "megatron.core.enums"))
    enums.ModelType = ModelType
    megatron.core, core.enums = core, enums
    sys.modules.update({"megatron": megatron, "megatron.core": core, "megatron.core.enums": enums})
    return ModelType

"""The smallest text input, for the test that sweeps every registered encoder."""
from dataclasses import dataclass, field
from typing import Optional

import torch


@dataclass
class TinyTextSpec:
    vocab_size: int = 50
    pad_id: int = 0
    max_length: int = 16
    hf_config: Optional[dict] = None
    words: dict = field(default_factory=dict)

    def vocab(self) -> dict:
        return self.words


def tiny_text_example(batch: int):
    spec = TinyTextSpec()
    lengths = torch.tensor([7, 3, 5, 2][:batch] + [4] * max(0, batch - 4))
    ids = torch.randint(5, spec.vocab_size, (batch, int(lengths.max())))
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    ids = ids.masked_fill(~mask, spec.pad_id)
    return spec, {"input_ids": ids, "attention_mask": mask.long(), "lengths": lengths}

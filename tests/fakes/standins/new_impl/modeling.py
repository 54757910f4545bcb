"""The stand-in ``NewModel``: a bidirectional encoder with rotary positions, written for the tests.
Like the published one, it lives in its own repo and imports its configuration relatively."""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling

from .configuration import NewConfig


def rotate(x, positions):
    """Rotary position embedding over the last dimension of ``x`` [batch, heads, length, dim]."""
    half = x.shape[-1] // 2
    frequencies = 1.0 / (10000 ** (torch.arange(half, dtype=torch.float32, device=x.device) / half))
    angles = positions[:, None].float() * frequencies[None, :]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x[..., :half], x[..., half:]
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class NewLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.heads = config.num_attention_heads
        self.qkv_proj = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.attn_ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size)
        self.mlp_ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden, mask):
        batch, length, width = hidden.shape
        q, k, v = self.qkv_proj(hidden).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        positions = torch.arange(length, device=hidden.device)
        attended = nn.functional.scaled_dot_product_attention(rotate(q, positions), rotate(k, positions), v,
                                                              attn_mask=mask)
        hidden = self.attn_ln(hidden + self.o_proj(attended.transpose(1, 2).reshape(batch, length, width)))
        return self.mlp_ln(hidden + self.down_proj(nn.functional.gelu(self.up_proj(hidden))))


class NewPreTrainedModel(PreTrainedModel):
    config_class = NewConfig
    base_model_prefix = "new"

    def _init_weights(self, module):
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


class NewModel(NewPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.embeddings_ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(NewLayer(config) for _ in range(config.num_hidden_layers))
        self.post_init()

    def get_input_embeddings(self):
        return self.word_embeddings

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.embeddings_ln(self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids))
        mask = attention_mask[:, None, None, :].bool()  # every position attends to every real token
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=hidden[:, 0])

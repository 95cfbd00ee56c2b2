"""Porting audit: Hugging Face-style pure-PyTorch modeling code (BERT, GPT-2, T5 pieces), run in torch and minigrad.

The code people read to learn how these models work, written here from memory in the style of the
`modeling_bert.py` / `modeling_gpt2.py` / `modeling_t5.py` files (no `transformers` import):
* BERT: BertEmbeddings (word/position/token_type embeddings, the non-persistent `position_ids` buffer from
  `arange(...).expand((1, -1))`, the `token_type_ids` zeros buffer expanded to the batch, `embeddings +=`,
  LayerNorm eps=1e-12), BertSelfAttention (`transpose_for_scores` with `x.size()[:-1] + (heads, head_size)`,
  `view`, `permute(0, 2, 1, 3)`; the extended mask `(1.0 - mask[:, None, None, :]) * finfo(dtype).min`;
  `/ math.sqrt(head_size)`; `context.permute(0, 2, 1, 3).contiguous()`), BertIntermediate with the erf GELU,
  BertOutput / BertSelfOutput residual LayerNorms, BertPooler (first token, tanh), sequence classification
  (cross-entropy, regression MSE with `squeeze()`, multi-label BCEWithLogits), `_init_weights`, the MLM head
  (`decoder.weight` tied to the word embeddings, a separate `bias` Parameter assigned as `decoder.bias`,
  `-100` labels ignored) and HF's `_tie_or_clone_weights`;
* GPT-2: Conv1D (`torch.addmm(bias, x.view(-1, x.size(-1)), weight)`), the `c_attn` split, `_split_heads` /
  `_merge_heads`, the bool `tril` causal buffer, `torch.where(causal_mask, w, full([], finfo.min))`,
  `w / full([], v.size(-1) ** 0.5)`, gelu_new, `scale_attn_by_inverse_layer_idx`, the padding attention mask,
  `past_key_values` with `torch.cat` along the sequence (incremental greedy decoding against the full
  forward), the shifted LM loss, the `c_proj.weight` scaled init;
* T5: T5LayerNorm (RMS norm, variance in float32), `_relative_position_bucket` (bidirectional and causal),
  `compute_bias` (Embedding output permuted to (1, heads, q, k)), attention without scaling, position bias
  shared between layers, DenseReluDense, a small encoder stack and a decoder with cross-attention.

Each program is written once as a function of the library namespace called `torch` (torch itself or
minigrad), which is what a port by changing imports does. Tiny configs, generated token ids, both runs from
torch's weights (state_dict loaded into ours), float64 with dropout 0: logits, losses, every gradient (tied
weights included) and the parameters after AdamW steps agree with torch to rounding (rtol 1e-7); float32
as written stays float32 and agrees at float32's rounding.

Also ported: BertSdpaSelfAttention (the expanded masked_fill mask), get_head_mask, resize_token_embeddings,
apply_chunking_to_forward, the QA and multiple-choice heads, GPT2SdpaAttention, `_upcast_and_reordered_attn`
(torch.empty + baddbmm(beta=0) under autocast(enabled=False)), GPT2ForSequenceClassification's last-non-pad
pooling, SequenceSummary's cls_index gather, generate()'s left-padded position ids with the cache, and the
repetition-penalty / top-k / top-p logits processors.

Found while porting and fixed (each has a focused test here):
* `F.pad(bias.data, ...)` (HF's `_tie_or_clone_weights`) failed inside pad with "'memoryview' object has no
  attribute 'dtype'"; pad now refuses a non-Tensor input with a TypeError that names the `.data` port;
* `param.data = tensor` on a Parameter was accepted and failed later inside backward ("Mul.backward returned a
  Tensor"); it is now a TypeError at the assignment naming `p.data = t.data` / `p.copy_(t)`.
Not fixed (reported): minigrad's RuntimeWarning filter (minigrad/__init__.py) is dropped when minigrad is first
imported inside `warnings.catch_warnings()`, which is what pytest does while loading conftest/test modules, so
under pytest `finfo.min + finfo.min` (GPT-2's masks) and T5's `log(0).to(long)` show NumPy RuntimeWarnings.

Documented differences met (README, "Tensor.data is the raw NumPy/CuPy array"; "mixing float32 with float64
is a TypeError"):
* HF's `_init_weights` writes through `.data`: `module.weight.data.normal_(mean=0.0, std=...)`,
  `module.bias.data.zero_()`, `module.weight.data.fill_(1.0)`, `module.weight.data[module.padding_idx].zero_()`.
  minigrad's `.data` is a NumPy array, which has none of these methods (NumPy's AttributeError). It ports as
  `with torch.no_grad(): module.weight.normal_(...); module.bias.zero_(); module.weight.fill_(1.0);
  module.weight[module.padding_idx].zero_()` (an in-place write through a view of the parameter), which works
  in both libraries; or `torch.nn.init.normal_(module.weight, ...)`. The `_tie_or_clone_weights` line
  `output_embeddings.bias.data = nn.functional.pad(output_embeddings.bias.data, ...)` ports the same way.
* T5's float32 islands (`hidden_states.to(torch.float32).pow(2).mean(...)` in T5LayerNorm and
  `softmax(scores.float(), dim=-1).type_as(scores)`) run a float64 model partly in float32 in torch (which
  then promotes float64 * float32 to float64); minigrad refuses float64 * float32 with a TypeError naming the
  op. In float32 (the way T5 is trained) the code runs as written; the float64 comparison uses the same code
  with the casts to the model's own dtype.
* `torch.bfloat16` (in T5LayerNorm's `if self.weight.dtype in [torch.float16, torch.bfloat16]`) is an
  AttributeError in minigrad that says there is no bfloat16: the check ports as `== torch.float16`.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-10)
TOL32 = dict(rtol=2e-5, atol=2e-6)  # float32 on both sides: summation orders differ (BLAS), ~1e-7 relative per op


@pytest.fixture(autouse=True)
def _float64_defaults():
    """float64 parameters and factories in both libraries (the programs call zeros/ones/arange plainly)."""
    old_t, old_m, n = torch.get_default_dtype(), mg.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)
    torch.set_num_threads(n)


@pytest.fixture
def float32_defaults():
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)


# ---------------------------------------------------------------- helpers
_np = to_numpy
_close = closer(TOL)


def _copy_weights(theirs, ours):
    """torch's state dict (parameters and persistent buffers, both names of a tied weight) into our module."""
    sd_t = theirs.state_dict()
    assert list(ours.state_dict()) == list(sd_t)
    missing, unexpected = ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd_t.items()})
    assert not missing and not unexpected


def _same_grads(ours, theirs, **tol):
    named_t, named_m = list(theirs.named_parameters()), list(ours.named_parameters())
    assert [k for k, _ in named_m] == [k for k, _ in named_t]
    for (k, p), (_, q) in zip(named_m, named_t):
        assert (p.grad is None) == (q.grad is None), k
        if p.grad is not None:
            _close(f"{k}.grad", p.grad, q.grad, **tol)


def _same_state(ours, theirs, **tol):
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in a:
        _close(k, a[k], b[k], **tol)


def _ids(lib, shape, high, seed=0):
    return lib.tensor(np.random.default_rng(seed).integers(0, high, size=shape))


# ================================================================ BERT
def build_bert(torch, init_style="ported"):
    """modeling_bert.py's classes, written against the namespace `torch`."""
    nn = torch.nn
    CrossEntropyLoss, MSELoss, BCEWithLogitsLoss = nn.CrossEntropyLoss, nn.MSELoss, nn.BCEWithLogitsLoss

    class GELUActivation(nn.Module):
        """Original Google BERT GELU (erf form)."""

        def forward(self, x):
            return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))

    ACT2FN = {"gelu": GELUActivation, "relu": nn.ReLU, "tanh": nn.Tanh}

    class BertEmbeddings(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
            # self.LayerNorm is not snake-cased to stick with TensorFlow model variable names
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.position_embedding_type = getattr(config, "position_embedding_type", "absolute")
            self.register_buffer(
                "position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
            )
            self.register_buffer(
                "token_type_ids", torch.zeros(self.position_ids.size(), dtype=torch.long), persistent=False
            )

        def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                    past_key_values_length=0):
            if input_ids is not None:
                input_shape = input_ids.size()
            else:
                input_shape = inputs_embeds.size()[:-1]
            seq_length = input_shape[1]
            if position_ids is None:
                position_ids = self.position_ids[:, past_key_values_length: seq_length + past_key_values_length]
            # the registered buffer helps users when tracing the model without passing token_type_ids
            if token_type_ids is None:
                if hasattr(self, "token_type_ids"):
                    buffered_token_type_ids = self.token_type_ids[:, :seq_length]
                    buffered_token_type_ids_expanded = buffered_token_type_ids.expand(input_shape[0], seq_length)
                    token_type_ids = buffered_token_type_ids_expanded
                else:
                    token_type_ids = torch.zeros(input_shape, dtype=torch.long, device=self.position_ids.device)
            if inputs_embeds is None:
                inputs_embeds = self.word_embeddings(input_ids)
            token_type_embeddings = self.token_type_embeddings(token_type_ids)
            embeddings = inputs_embeds + token_type_embeddings
            if self.position_embedding_type == "absolute":
                position_embeddings = self.position_embeddings(position_ids)
                embeddings += position_embeddings
            embeddings = self.LayerNorm(embeddings)
            embeddings = self.dropout(embeddings)
            return embeddings

    class BertSelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            if config.hidden_size % config.num_attention_heads != 0 and not hasattr(config, "embedding_size"):
                raise ValueError(
                    f"The hidden size ({config.hidden_size}) is not a multiple of the number of attention "
                    f"heads ({config.num_attention_heads})"
                )
            self.num_attention_heads = config.num_attention_heads
            self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
            self.all_head_size = self.num_attention_heads * self.attention_head_size
            self.query = nn.Linear(config.hidden_size, self.all_head_size)
            self.key = nn.Linear(config.hidden_size, self.all_head_size)
            self.value = nn.Linear(config.hidden_size, self.all_head_size)
            self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
            self.dropout_prob = config.attention_probs_dropout_prob
            self.attn_implementation = getattr(config, "attn_implementation", "eager")

        def transpose_for_scores(self, x):
            new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
            x = x.view(new_x_shape)
            return x.permute(0, 2, 1, 3)

        def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
            mixed_query_layer = self.query(hidden_states)
            key_layer = self.transpose_for_scores(self.key(hidden_states))
            value_layer = self.transpose_for_scores(self.value(hidden_states))
            query_layer = self.transpose_for_scores(mixed_query_layer)
            if self.attn_implementation == "sdpa" and not output_attentions and head_mask is None:
                # BertSdpaSelfAttention: the fused kernel with the expanded (b, 1, t, s) additive mask
                bsz, tgt_len, _ = hidden_states.size()
                attn_output = torch.nn.functional.scaled_dot_product_attention(
                    query_layer, key_layer, value_layer, attn_mask=attention_mask,
                    dropout_p=self.dropout_prob if self.training else 0.0, is_causal=False)
                attn_output = attn_output.transpose(1, 2)
                attn_output = attn_output.reshape(bsz, tgt_len, self.all_head_size)
                return (attn_output,)
            # Take the dot product between "query" and "key" to get the raw attention scores.
            attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
            attention_scores = attention_scores / math.sqrt(self.attention_head_size)
            if attention_mask is not None:
                # Apply the attention mask (precomputed for all layers in BertModel forward() function)
                attention_scores = attention_scores + attention_mask
            attention_probs = nn.functional.softmax(attention_scores, dim=-1)
            attention_probs = self.dropout(attention_probs)
            if head_mask is not None:
                attention_probs = attention_probs * head_mask
            context_layer = torch.matmul(attention_probs, value_layer)
            context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
            new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
            context_layer = context_layer.view(new_context_layer_shape)
            outputs = (context_layer, attention_probs) if output_attentions else (context_layer,)
            return outputs

    class BertSelfOutput(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

        def forward(self, hidden_states, input_tensor):
            hidden_states = self.dense(hidden_states)
            hidden_states = self.dropout(hidden_states)
            hidden_states = self.LayerNorm(hidden_states + input_tensor)
            return hidden_states

    class BertAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.self = BertSelfAttention(config)
            self.output = BertSelfOutput(config)

        def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
            self_outputs = self.self(hidden_states, attention_mask, head_mask, output_attentions)
            attention_output = self.output(self_outputs[0], hidden_states)
            outputs = (attention_output,) + self_outputs[1:]  # add attentions if we output them
            return outputs

    class BertIntermediate(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
            if isinstance(config.hidden_act, str):
                self.intermediate_act_fn = ACT2FN[config.hidden_act]()
            else:
                self.intermediate_act_fn = config.hidden_act

        def forward(self, hidden_states):
            hidden_states = self.dense(hidden_states)
            hidden_states = self.intermediate_act_fn(hidden_states)
            return hidden_states

    class BertOutput(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

        def forward(self, hidden_states, input_tensor):
            hidden_states = self.dense(hidden_states)
            hidden_states = self.dropout(hidden_states)
            hidden_states = self.LayerNorm(hidden_states + input_tensor)
            return hidden_states

    class BertLayer(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.attention = BertAttention(config)
            self.intermediate = BertIntermediate(config)
            self.output = BertOutput(config)

        def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
            self_attention_outputs = self.attention(hidden_states, attention_mask, head_mask,
                                                    output_attentions=output_attentions)
            attention_output = self_attention_outputs[0]
            outputs = self_attention_outputs[1:]
            intermediate_output = self.intermediate(attention_output)
            layer_output = self.output(intermediate_output, attention_output)
            return (layer_output,) + outputs

    class BertEncoder(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

        def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False,
                    output_hidden_states=False):
            all_hidden_states = () if output_hidden_states else None
            all_self_attentions = () if output_attentions else None
            for i, layer_module in enumerate(self.layer):
                if output_hidden_states:
                    all_hidden_states = all_hidden_states + (hidden_states,)
                layer_head_mask = head_mask[i] if head_mask is not None else None
                layer_outputs = layer_module(hidden_states, attention_mask, layer_head_mask, output_attentions)
                hidden_states = layer_outputs[0]
                if output_attentions:
                    all_self_attentions = all_self_attentions + (layer_outputs[1],)
            if output_hidden_states:
                all_hidden_states = all_hidden_states + (hidden_states,)
            return tuple(v for v in [hidden_states, all_hidden_states, all_self_attentions] if v is not None)

    class BertPooler(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.activation = nn.Tanh()

        def forward(self, hidden_states):
            # We "pool" the model by simply taking the hidden state corresponding to the first token.
            first_token_tensor = hidden_states[:, 0]
            pooled_output = self.dense(first_token_tensor)
            pooled_output = self.activation(pooled_output)
            return pooled_output

    class BertPredictionHeadTransform(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.transform_act_fn = ACT2FN[config.hidden_act]()
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

        def forward(self, hidden_states):
            hidden_states = self.dense(hidden_states)
            hidden_states = self.transform_act_fn(hidden_states)
            hidden_states = self.LayerNorm(hidden_states)
            return hidden_states

    class BertLMPredictionHead(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.transform = BertPredictionHeadTransform(config)
            # The output weights are the same as the input embeddings, but there is
            # an output-only bias for each token.
            self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
            self.bias = nn.Parameter(torch.zeros(config.vocab_size))
            # Need a link between the two variables so that the bias is correctly resized with `resize_token_embeddings`
            self.decoder.bias = self.bias

        def forward(self, hidden_states):
            hidden_states = self.transform(hidden_states)
            hidden_states = self.decoder(hidden_states)
            return hidden_states

    class BertOnlyMLMHead(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.predictions = BertLMPredictionHead(config)

        def forward(self, sequence_output):
            return self.predictions(sequence_output)

    class BertPreTrainedModel(nn.Module):
        base_model_prefix = "bert"

        def __init__(self, config):
            super().__init__()
            self.config = config

        @property
        def dtype(self):
            # ModuleUtilsMixin.dtype: the dtype of the first floating-point parameter
            return next(p for p in self.parameters() if p.is_floating_point()).dtype

        def get_extended_attention_mask(self, attention_mask, input_shape, dtype=None):
            if dtype is None:
                dtype = self.dtype
            if attention_mask.dim() == 3:
                extended_attention_mask = attention_mask[:, None, :, :]
            elif attention_mask.dim() == 2:
                # Provided a padding mask of dimensions [batch_size, seq_length]
                # - make it broadcastable to [batch_size, num_heads, seq_length, seq_length]
                extended_attention_mask = attention_mask[:, None, None, :]
            else:
                raise ValueError(f"Wrong shape for input_ids (shape {input_shape}) or attention_mask "
                                 f"(shape {attention_mask.shape})")
            extended_attention_mask = extended_attention_mask.to(dtype=dtype)  # fp16 compatibility
            extended_attention_mask = (1.0 - extended_attention_mask) * torch.finfo(dtype).min
            return extended_attention_mask

        def _init_weights(self, module):
            """Initialize the weights"""
            std = self.config.initializer_range
            if init_style == "hf":  # modeling_bert.py's text: writes through .data (torch only, see module doc)
                if isinstance(module, nn.Linear):
                    module.weight.data.normal_(mean=0.0, std=std)
                    if module.bias is not None:
                        module.bias.data.zero_()
                elif isinstance(module, nn.Embedding):
                    module.weight.data.normal_(mean=0.0, std=std)
                    if module.padding_idx is not None:
                        module.weight.data[module.padding_idx].zero_()
                elif isinstance(module, nn.LayerNorm):
                    module.bias.data.zero_()
                    module.weight.data.fill_(1.0)
                return
            with torch.no_grad():  # the port: the same in-place writes on the parameters themselves
                if isinstance(module, nn.Linear):
                    module.weight.normal_(mean=0.0, std=std)
                    if module.bias is not None:
                        module.bias.zero_()
                elif isinstance(module, nn.Embedding):
                    module.weight.normal_(mean=0.0, std=std)
                    if module.padding_idx is not None:
                        module.weight[module.padding_idx].zero_()
                elif isinstance(module, nn.LayerNorm):
                    module.bias.zero_()
                    module.weight.fill_(1.0)

        def get_head_mask(self, head_mask, num_hidden_layers):
            if head_mask is not None:
                if head_mask.dim() == 1:  # one mask for every layer
                    head_mask = head_mask.unsqueeze(0).unsqueeze(0).unsqueeze(-1).unsqueeze(-1)
                    head_mask = head_mask.expand(num_hidden_layers, -1, -1, -1, -1)
                elif head_mask.dim() == 2:  # one per layer
                    head_mask = head_mask.unsqueeze(1).unsqueeze(-1).unsqueeze(-1)
                head_mask = head_mask.to(dtype=self.dtype)  # switch to float if need + fp16 compatibility
            else:
                head_mask = [None] * num_hidden_layers
            return head_mask

        def get_input_embeddings(self):
            return getattr(self, self.base_model_prefix).embeddings.word_embeddings

        def resize_token_embeddings(self, new_num_tokens):
            """_get_resized_embeddings + tie_weights, with HF's `.data[:n, :] =` copy (a NumPy write here)."""
            old_embeddings = self.get_input_embeddings()
            old_num_tokens, old_embedding_dim = old_embeddings.weight.size()
            new_embeddings = nn.Embedding(new_num_tokens, old_embedding_dim, padding_idx=old_embeddings.padding_idx,
                                          dtype=old_embeddings.weight.dtype)
            self._init_weights(new_embeddings)
            n = min(old_num_tokens, new_num_tokens)
            new_embeddings.weight.data[:n, :] = old_embeddings.weight.data[:n, :]
            getattr(self, self.base_model_prefix).embeddings.word_embeddings = new_embeddings
            self.config.vocab_size = new_num_tokens
            head = self.get_output_embeddings()
            if head is not None:  # the port of `bias.data = F.pad(bias.data, ...)`: one new Parameter, both names
                pad = (0, new_num_tokens - head.bias.shape[0])
                new_bias = nn.Parameter(nn.functional.pad(head.bias.detach(), pad, "constant", 0))
                self.cls.predictions.bias = new_bias
                head.bias = new_bias
            self.tie_weights()
            return new_embeddings

        def get_output_embeddings(self):
            return None

        def _tie_or_clone_weights(self, output_embeddings, input_embeddings):
            output_embeddings.weight = input_embeddings.weight
            if getattr(output_embeddings, "bias", None) is not None:
                pad = (0, output_embeddings.weight.shape[0] - output_embeddings.bias.shape[0])
                if init_style == "hf":
                    output_embeddings.bias.data = nn.functional.pad(output_embeddings.bias.data, pad, "constant", 0)
                else:
                    with torch.no_grad():  # same size here: the pad is a no-op copy
                        output_embeddings.bias.copy_(nn.functional.pad(output_embeddings.bias, pad, "constant", 0))
            if hasattr(output_embeddings, "out_features") and hasattr(input_embeddings, "num_embeddings"):
                output_embeddings.out_features = input_embeddings.num_embeddings

        def tie_weights(self):
            output_embeddings = self.get_output_embeddings()
            if output_embeddings is not None and self.config.tie_word_embeddings:
                self._tie_or_clone_weights(output_embeddings, self.get_input_embeddings())

        def post_init(self):
            self.apply(self._init_weights)
            self.tie_weights()

    class BertModel(BertPreTrainedModel):
        def __init__(self, config, add_pooling_layer=True):
            super().__init__(config)
            self.embeddings = BertEmbeddings(config)
            self.encoder = BertEncoder(config)
            self.pooler = BertPooler(config) if add_pooling_layer else None
            self.post_init()

        def get_input_embeddings(self):
            return self.embeddings.word_embeddings

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                    head_mask=None, inputs_embeds=None, output_attentions=False, output_hidden_states=False):
            if input_ids is not None and inputs_embeds is not None:
                raise ValueError("You cannot specify both input_ids and inputs_embeds at the same time")
            elif input_ids is not None:
                input_shape = input_ids.size()
            elif inputs_embeds is not None:
                input_shape = inputs_embeds.size()[:-1]
            else:
                raise ValueError("You have to specify either input_ids or inputs_embeds")
            batch_size, seq_length = input_shape
            device = input_ids.device if input_ids is not None else inputs_embeds.device
            if attention_mask is None:
                attention_mask = torch.ones(((batch_size, seq_length)), device=device)
            if token_type_ids is None:
                if hasattr(self.embeddings, "token_type_ids"):
                    buffered_token_type_ids = self.embeddings.token_type_ids[:, :seq_length]
                    token_type_ids = buffered_token_type_ids.expand(batch_size, seq_length)
                else:
                    token_type_ids = torch.zeros(input_shape, dtype=torch.long, device=device)
            if getattr(self.config, "attn_implementation", "eager") == "sdpa" and not output_attentions:
                # _prepare_4d_attention_mask_for_sdpa: [bsz, seq_len] -> [bsz, 1, tgt_seq_len, src_seq_len]
                dtype = self.dtype
                expanded_mask = attention_mask[:, None, None, :].expand(batch_size, 1, seq_length, seq_length).to(dtype)
                inverted_mask = 1.0 - expanded_mask
                extended_attention_mask = inverted_mask.masked_fill(inverted_mask.to(torch.bool), torch.finfo(dtype).min)
            else:
                extended_attention_mask = self.get_extended_attention_mask(attention_mask, input_shape)
            head_mask = self.get_head_mask(head_mask, self.config.num_hidden_layers)
            embedding_output = self.embeddings(input_ids=input_ids, position_ids=position_ids,
                                               token_type_ids=token_type_ids, inputs_embeds=inputs_embeds)
            encoder_outputs = self.encoder(embedding_output, attention_mask=extended_attention_mask,
                                           head_mask=head_mask, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states)
            sequence_output = encoder_outputs[0]
            pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
            return (sequence_output, pooled_output) + encoder_outputs[1:]

    class BertForSequenceClassification(BertPreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.num_labels = config.num_labels
            self.bert = BertModel(config)
            classifier_dropout = (config.classifier_dropout if config.classifier_dropout is not None
                                  else config.hidden_dropout_prob)
            self.dropout = nn.Dropout(classifier_dropout)
            self.classifier = nn.Linear(config.hidden_size, config.num_labels)
            self.post_init()

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None):
            outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            pooled_output = outputs[1]
            pooled_output = self.dropout(pooled_output)
            logits = self.classifier(pooled_output)
            loss = None
            if labels is not None:
                if self.config.problem_type is None:
                    if self.num_labels == 1:
                        self.config.problem_type = "regression"
                    elif self.num_labels > 1 and (labels.dtype == torch.long or labels.dtype == torch.int):
                        self.config.problem_type = "single_label_classification"
                    else:
                        self.config.problem_type = "multi_label_classification"
                if self.config.problem_type == "regression":
                    loss_fct = MSELoss()
                    if self.num_labels == 1:
                        loss = loss_fct(logits.squeeze(), labels.squeeze())
                    else:
                        loss = loss_fct(logits, labels)
                elif self.config.problem_type == "single_label_classification":
                    loss_fct = CrossEntropyLoss()
                    loss = loss_fct(logits.view(-1, self.num_labels), labels.view(-1))
                elif self.config.problem_type == "multi_label_classification":
                    loss_fct = BCEWithLogitsLoss()
                    loss = loss_fct(logits, labels)
            return (loss, logits) + outputs[2:]

    class BertForMaskedLM(BertPreTrainedModel):
        _tied_weights_keys = ["predictions.decoder.bias", "cls.predictions.decoder.weight"]

        def __init__(self, config):
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.cls = BertOnlyMLMHead(config)
            self.post_init()

        def get_output_embeddings(self):
            return self.cls.predictions.decoder

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None):
            outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            sequence_output = outputs[0]
            prediction_scores = self.cls(sequence_output)
            masked_lm_loss = None
            if labels is not None:
                loss_fct = CrossEntropyLoss()  # -100 index = padding token
                masked_lm_loss = loss_fct(prediction_scores.view(-1, self.config.vocab_size), labels.view(-1))
            return (masked_lm_loss, prediction_scores)

    return SimpleNamespace(BertModel=BertModel, BertForSequenceClassification=BertForSequenceClassification,
                           BertForMaskedLM=BertForMaskedLM, BertEmbeddings=BertEmbeddings,
                           BertSelfAttention=BertSelfAttention, GELUActivation=GELUActivation)


BV, BH, BL, BHEADS, BI, BMAX, BT = 13, 8, 2, 2, 12, 10, 6  # vocab, hidden, layers, heads, intermediate, max pos, seq


def bert_config(**kw):
    cfg = dict(vocab_size=BV, hidden_size=BH, num_hidden_layers=BL, num_attention_heads=BHEADS, intermediate_size=BI,
               hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
               max_position_embeddings=BMAX, type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
               pad_token_id=0, classifier_dropout=None, num_labels=3, problem_type=None, tie_word_embeddings=True)
    cfg.update(kw)
    return SimpleNamespace(**cfg)


def _bert_pair(cls_name, seed=0, init_style="ported", **cfg):
    t_ns, m_ns = build_bert(torch, init_style), build_bert(mg, init_style)
    torch.manual_seed(seed)
    t_model = getattr(t_ns, cls_name)(bert_config(**cfg))
    m_model = getattr(m_ns, cls_name)(bert_config(**cfg))
    _copy_weights(t_model, m_model)
    return t_model, m_model


def _bert_inputs(lib, batch=3, seq=BT, seed=1):
    ids = _ids(lib, (batch, seq), BV, seed)
    mask = np.ones((batch, seq), dtype=np.int64)
    mask[1, seq - 2:] = 0  # padded rows (the usual tokenizer output: int64 0/1 mask)
    mask[2, seq - 1:] = 0
    tt = np.zeros((batch, seq), dtype=np.int64)
    tt[:, seq // 2:] = 1  # sentence B
    return ids, lib.tensor(mask), lib.tensor(tt)


def test_bert_model_forward_backward_matches_torch():
    t_model, m_model = _bert_pair("BertModel")
    # non-persistent buffers stay out of the state dict; the tied names are torch's
    assert "embeddings.position_ids" not in m_model.state_dict()
    assert [n for n, _ in m_model.named_buffers()] == [n for n, _ in t_model.named_buffers()]
    _close("position_ids", m_model.embeddings.position_ids, t_model.embeddings.position_ids)
    outs = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        ids, mask, tt = _bert_inputs(lib)
        seq, pooled, hidden, attn = model(ids, attention_mask=mask, token_type_ids=tt, output_attentions=True,
                                          output_hidden_states=True)
        (seq.pow(2).sum() + pooled.sum() * 0.3).backward()
        outs.append((seq, pooled, hidden, attn))
    (ts, tp, th, ta), (ms, mp, mh, ma) = outs
    _close("sequence_output", ms, ts)
    _close("pooled_output", mp, tp)
    assert len(mh) == len(th) == BL + 1 and len(ma) == len(ta) == BL
    for i, (a, b) in enumerate(zip(mh, th)):
        _close(f"hidden_states[{i}]", a, b)
    for i, (a, b) in enumerate(zip(ma, ta)):
        _close(f"attentions[{i}]", a, b)
        # padded keys get probability 0 (exp(finfo.min - max) underflows)
        assert np.all(_np(a)[1, :, :, BT - 2:] == 0.0)
    _same_grads(m_model, t_model)


def test_bert_default_mask_and_token_types_from_buffers():
    """No attention_mask / token_type_ids: torch.ones((b, t)) and the expanded zeros buffer."""
    t_model, m_model = _bert_pair("BertModel")
    (t_out, m_out) = [model(_ids(lib, (2, 5), BV, 3)) for lib, model in ((torch, t_model), (mg, m_model))]
    _close("sequence_output", m_out[0], t_out[0])
    _close("pooled_output", m_out[1], t_out[1])
    # the extended mask as HF builds it: (1.0 - mask[:, None, None, :]) * finfo(dtype).min, in the model's dtype
    ext = [model.get_extended_attention_mask(_bert_inputs(lib)[1], (3, BT))
           for lib, model in ((torch, t_model), (mg, m_model))]
    _close("extended_attention_mask", ext[1], ext[0], rtol=0, atol=0)
    assert ext[1].shape == (3, 1, 1, BT) and ext[1].dtype == mg.float64
    # a 3-d mask takes the [:, None, :, :] branch
    m3 = np.tril(np.ones((2, 5, 5), dtype=np.int64))
    ext3 = [model.get_extended_attention_mask(lib.tensor(m3), (2, 5)) for lib, model in ((torch, t_model), (mg, m_model))]
    _close("extended 3-d mask", ext3[1], ext3[0], rtol=0, atol=0)


def test_bert_embeddings_inputs_embeds_and_past_length():
    """BertEmbeddings on its own: inputs_embeds instead of ids, position_ids sliced from past_key_values_length,
    `embeddings += position_embeddings` (in-place add in the graph) with gradients through all three tables."""
    t_ns, m_ns = build_bert(torch), build_bert(mg)
    torch.manual_seed(0)
    t_emb = t_ns.BertEmbeddings(bert_config())
    m_emb = m_ns.BertEmbeddings(bert_config())
    _copy_weights(t_emb, m_emb)
    x = np.random.default_rng(5).standard_normal((2, 4, BH))
    res = []
    for lib, emb in ((torch, t_emb), (mg, m_emb)):
        inp = lib.tensor(x, requires_grad=True)
        out = emb(inputs_embeds=inp, past_key_values_length=3)
        out2 = emb(input_ids=_ids(lib, (2, 4), BV, 2), token_type_ids=lib.ones(2, 4, dtype=lib.long))
        (out * out2).sum().backward()
        res.append((out, out2, inp.grad))
    for name, a, b in zip(("inputs_embeds out", "ids out", "inputs_embeds.grad"), res[1], res[0]):
        _close(name, a, b)
    _same_grads(m_emb, t_emb)


def test_bert_gelu_erf_form_matches_torch_gelu():
    """The erf GELU as written equals F.gelu (exact) in both libraries, value and gradient, float64 and float32."""
    x = np.linspace(-6, 6, 41)
    for dt in ("float64", "float32"):
        got = []
        for lib in (torch, mg):
            act = build_bert(lib).GELUActivation()
            a = lib.tensor(x.astype(dt), requires_grad=True)
            b = lib.tensor(x.astype(dt), requires_grad=True)
            ya, yb = act(a), lib.nn.functional.gelu(b)
            ya.sum().backward()
            yb.sum().backward()
            got.append((ya, yb, a.grad, b.grad))
        tol = TOL if dt == "float64" else TOL32
        for i, name in enumerate(("erf gelu", "F.gelu", "erf gelu grad", "F.gelu grad")):
            _close(f"{name} {dt}", got[1][i], got[0][i], **tol)
        _close(f"erf form vs F.gelu {dt}", got[1][0], got[1][1], **tol)


@pytest.mark.parametrize("problem", ["single_label", "regression", "multi_label"])
def test_bert_sequence_classification_trains_like_torch(problem):
    num_labels = 1 if problem == "regression" else 3
    t_model, m_model = _bert_pair("BertForSequenceClassification", num_labels=num_labels)
    rng = np.random.default_rng(7)
    if problem == "single_label":
        labels = rng.integers(0, 3, size=3)
    elif problem == "regression":
        labels = rng.standard_normal(3)
    else:
        labels = (rng.random((3, 3)) < 0.5).astype(np.float64)
    opts = [lib.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
            for lib, model in ((torch, t_model), (mg, m_model))]
    for step in range(3):
        res = []
        for lib, model, opt in ((torch, t_model, opts[0]), (mg, m_model, opts[1])):
            ids, mask, tt = _bert_inputs(lib, seed=step)
            opt.zero_grad()
            loss, logits = model(ids, attention_mask=mask, token_type_ids=tt, labels=lib.tensor(labels))
            loss.backward()
            res.append((loss, logits))
        assert m_model.config.problem_type == t_model.config.problem_type
        _close(f"loss step {step}", res[1][0], res[0][0])
        _close(f"logits step {step}", res[1][1], res[0][1])
        _same_grads(m_model, t_model)
        for opt in opts:
            opt.step()
    _same_state(m_model, t_model)
    expected = {"single_label": "single_label_classification", "regression": "regression",
                "multi_label": "multi_label_classification"}[problem]
    assert m_model.config.problem_type == expected


def test_bert_masked_lm_tied_decoder_and_separate_bias():
    t_model, m_model = _bert_pair("BertForMaskedLM")
    for model in (t_model, m_model):
        dec = model.cls.predictions.decoder
        assert dec.weight is model.bert.embeddings.word_embeddings.weight  # tied
        assert dec.bias is model.cls.predictions.bias  # the decoder's bias is the head's Parameter
        assert dec.out_features == BV
    names_t = [n for n, _ in t_model.named_parameters()]
    assert [n for n, _ in m_model.named_parameters()] == names_t
    assert "cls.predictions.decoder.weight" not in names_t and "cls.predictions.bias" in names_t
    # both names of each tied tensor are in the state dict, in torch's order
    assert "cls.predictions.decoder.weight" in m_model.state_dict() and "cls.predictions.decoder.bias" in m_model.state_dict()
    rng = np.random.default_rng(11)
    labels = np.full((3, BT), -100)
    pick = rng.random((3, BT)) < 0.4
    pick[0, 1] = True
    labels[pick] = rng.integers(1, BV, size=pick.sum())
    opts = [lib.optim.AdamW(model.parameters(), lr=1e-2) for lib, model in ((torch, t_model), (mg, m_model))]
    for step in range(3):
        res = []
        for lib, model, opt in ((torch, t_model, opts[0]), (mg, m_model, opts[1])):
            ids, mask, tt = _bert_inputs(lib, seed=10 + step)
            opt.zero_grad()
            loss, scores = model(ids, attention_mask=mask, token_type_ids=tt, labels=lib.tensor(labels))
            loss.backward()
            res.append((loss, scores))
        _close(f"mlm loss step {step}", res[1][0], res[0][0])
        _close(f"prediction_scores step {step}", res[1][1], res[0][1])
        # the tied word-embedding gradient sums the input lookups and the decoder product
        _same_grads(m_model, t_model)
        for opt in opts:
            opt.step()
    _same_state(m_model, t_model)
    assert m_model.cls.predictions.decoder.weight is m_model.bert.embeddings.word_embeddings.weight


def test_bert_init_weights_ported():
    """HF's _init_weights, ported (no_grad + in-place writes on the parameters): N(0, 0.02) weights, zero biases,
    LayerNorm ones/zeros, the padding row zeroed, the MLM head's bias zero; float64 as the default dtype."""
    mg.manual_seed(3)
    m_model = build_bert(mg).BertForMaskedLM(bert_config(hidden_size=32, intermediate_size=64, vocab_size=50,
                                                         max_position_embeddings=40))
    for name, p in m_model.named_parameters():
        a = _np(p)
        assert a.dtype == np.float64, name
        if name.endswith("LayerNorm.weight"):
            assert np.all(a == 1.0), name
        elif name.endswith("bias"):
            assert np.all(a == 0.0), name
        else:
            assert a.ndim == 2
            flat = a[1:] if "word_embeddings" in name else a
            assert abs(flat.mean()) < 0.004 and 0.016 < flat.std() < 0.024, (name, flat.mean(), flat.std())
    assert np.all(_np(m_model.bert.embeddings.word_embeddings.weight)[0] == 0.0)  # padding_idx row


def test_bert_init_weights_hf_text_through_data():
    """HF's literal `.data.normal_` / `.data[padding_idx].zero_()` runs in torch; minigrad's `.data` is the NumPy
    array (documented), so the literal text fails with NumPy's AttributeError; the NumPy spelling of the padding
    row write (`module.weight.data[idx] = 0`) writes through to the parameter."""
    torch.manual_seed(0)
    t_model = build_bert(torch, "hf").BertForMaskedLM(bert_config())
    assert torch.all(t_model.bert.embeddings.word_embeddings.weight[0] == 0)
    with pytest.raises(AttributeError, match="normal_"):
        build_bert(mg, "hf").BertForMaskedLM(bert_config())
    emb = mg.nn.Embedding(5, 3, padding_idx=2)
    emb.weight.data[emb.padding_idx] = 0
    assert np.all(_np(emb.weight)[2] == 0) and np.all(_np(emb.weight)[[0, 1, 3, 4]] != 0)


def test_bert_float32_as_written(float32_defaults):
    t_model, m_model = _bert_pair("BertForSequenceClassification")
    res = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        ids, mask, tt = _bert_inputs(lib)
        loss, logits = model(ids, attention_mask=mask, token_type_ids=tt, labels=lib.tensor([0, 2, 1]))
        loss.backward()
        res.append((loss, logits))
    assert res[1][1].dtype == mg.float32 and m_model.dtype == mg.float32
    # the extended mask is float32's min, in float32
    ext = m_model.bert.get_extended_attention_mask(_bert_inputs(mg)[1], (3, BT))
    assert ext.dtype == mg.float32 and float(ext.min()) == float(np.finfo(np.float32).min)
    _close("loss f32", res[1][0], res[0][0], **TOL32)
    _close("logits f32", res[1][1], res[0][1], **TOL32)
    for (k, p), (_, q) in zip(m_model.named_parameters(), t_model.named_parameters()):
        assert p.grad.dtype == mg.float32, k
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-4, atol=1e-6, err_msg=k)


# ================================================================ GPT-2
def build_gpt2(torch):
    """modeling_gpt2.py's classes (eager attention path), written against the namespace `torch`."""
    nn = torch.nn
    CrossEntropyLoss = nn.CrossEntropyLoss

    class NewGELUActivation(nn.Module):
        """GELU as in Google BERT / OpenAI GPT (tanh approximation)."""

        def forward(self, input):
            return 0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input + 0.044715 * torch.pow(input, 3.0))))

    class Conv1D(nn.Module):
        """1D-convolutional layer as defined by Radford et al. for OpenAI GPT: a linear layer with transposed weights."""

        def __init__(self, nf, nx):
            super().__init__()
            self.nf = nf
            self.nx = nx
            self.weight = nn.Parameter(torch.empty(nx, nf))
            self.bias = nn.Parameter(torch.zeros(nf))
            nn.init.normal_(self.weight, std=0.02)

        def forward(self, x):
            size_out = x.size()[:-1] + (self.nf,)
            x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
            x = x.view(size_out)
            return x

    class GPT2Attention(nn.Module):
        def __init__(self, config, layer_idx=None):
            super().__init__()
            max_positions = config.max_position_embeddings
            self.register_buffer(
                "bias",
                torch.tril(torch.ones((max_positions, max_positions), dtype=torch.bool)).view(
                    1, 1, max_positions, max_positions),
                persistent=False,
            )
            self.register_buffer("masked_bias", torch.tensor(-1e4), persistent=False)
            self.embed_dim = config.hidden_size
            self.num_heads = config.num_attention_heads
            self.head_dim = self.embed_dim // self.num_heads
            self.split_size = self.embed_dim
            if self.head_dim * self.num_heads != self.embed_dim:
                raise ValueError(f"`embed_dim` must be divisible by num_heads (got `embed_dim`: {self.embed_dim} and "
                                 f"`num_heads`: {self.num_heads}).")
            self.scale_attn_weights = config.scale_attn_weights
            self.scale_attn_by_inverse_layer_idx = config.scale_attn_by_inverse_layer_idx
            self.layer_idx = layer_idx
            self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
            self.c_proj = Conv1D(self.embed_dim, self.embed_dim)
            self.attn_dropout = nn.Dropout(config.attn_pdrop)
            self.resid_dropout = nn.Dropout(config.resid_pdrop)
            self.is_causal = True
            self.config = config
            self.reorder_and_upcast_attn = getattr(config, "reorder_and_upcast_attn", False)

        def _attn(self, query, key, value, attention_mask=None, head_mask=None):
            attn_weights = torch.matmul(query, key.transpose(-1, -2))
            if self.scale_attn_weights:
                attn_weights = attn_weights / torch.full(
                    [], value.size(-1) ** 0.5, dtype=attn_weights.dtype, device=attn_weights.device)
            # Layer-wise attention scaling
            if self.scale_attn_by_inverse_layer_idx:
                attn_weights = attn_weights / float(self.layer_idx + 1)
            query_length, key_length = query.size(-2), key.size(-2)
            causal_mask = self.bias[:, :, key_length - query_length: key_length, :key_length]
            mask_value = torch.finfo(attn_weights.dtype).min
            # Need to be a tensor, otherwise we get error: `RuntimeError: expected scalar type float but found double`.
            # Need to be on the same device, otherwise `RuntimeError: ..., x and y to be on the same device`
            mask_value = torch.full([], mask_value, dtype=attn_weights.dtype, device=attn_weights.device)
            attn_weights = torch.where(causal_mask, attn_weights.to(attn_weights.dtype), mask_value)
            if attention_mask is not None:
                # Apply the attention mask
                attn_weights = attn_weights + attention_mask
            attn_weights = nn.functional.softmax(attn_weights, dim=-1)
            # Downcast (if necessary) back to V's dtype (if in mixed-precision) -- No-Op otherwise
            attn_weights = attn_weights.type(value.dtype)
            attn_weights = self.attn_dropout(attn_weights)
            if head_mask is not None:
                attn_weights = attn_weights * head_mask
            attn_output = torch.matmul(attn_weights, value)
            return attn_output, attn_weights

        def _upcast_and_reordered_attn(self, query, key, value, attention_mask=None, head_mask=None):
            # Use `torch.baddbmm` (a bit more efficient w/ alpha param for scaling -- from Megatron-LM)
            bsz, num_heads, q_seq_len, dk = query.size()
            _, _, k_seq_len, _ = key.size()
            # Preallocate attn_weights for `baddbmm`
            attn_weights = torch.empty(bsz * num_heads, q_seq_len, k_seq_len, dtype=torch.float32, device=query.device)
            # Compute Scale Factor
            scale_factor = 1.0
            if self.scale_attn_weights:
                scale_factor /= float(value.size(-1)) ** 0.5
            if self.scale_attn_by_inverse_layer_idx:
                scale_factor /= float(self.layer_idx + 1)
            # Upcast (turn off autocast) and reorder (Scale K by 1 / root(dk))
            with torch.autocast(query.device.type, enabled=False):
                q, k = query.reshape(-1, q_seq_len, dk), key.transpose(-1, -2).reshape(-1, dk, k_seq_len)
                attn_weights = torch.baddbmm(attn_weights, q.float(), k.float(), beta=0, alpha=scale_factor)
                attn_weights = attn_weights.reshape(bsz, num_heads, q_seq_len, k_seq_len)
            query_length, key_length = query.size(-2), key.size(-2)
            causal_mask = self.bias[:, :, key_length - query_length: key_length, :key_length]
            mask_value = torch.finfo(attn_weights.dtype).min
            mask_value = torch.tensor(mask_value, dtype=attn_weights.dtype).to(attn_weights.device)
            attn_weights = torch.where(causal_mask, attn_weights, mask_value)
            if attention_mask is not None:
                attn_weights = attn_weights + attention_mask
            attn_weights = nn.functional.softmax(attn_weights, dim=-1)
            # Downcast (if necessary) back to V's dtype (if in mixed-precision) -- No-Op if otherwise
            if attn_weights.dtype != torch.float32:
                raise RuntimeError("Error with upcasting, attn_weights does not have dtype torch.float32")
            attn_weights = attn_weights.type(value.dtype)
            attn_weights = self.attn_dropout(attn_weights)
            if head_mask is not None:
                attn_weights = attn_weights * head_mask
            attn_output = torch.matmul(attn_weights, value)
            return attn_output, attn_weights

        def _split_heads(self, tensor, num_heads, attn_head_size):
            """Splits hidden_size dim into attn_head_size and num_heads"""
            new_shape = tensor.size()[:-1] + (num_heads, attn_head_size)
            tensor = tensor.view(new_shape)
            return tensor.permute(0, 2, 1, 3)  # (batch, head, seq_length, head_features)

        def _merge_heads(self, tensor, num_heads, attn_head_size):
            """Merges attn_head_size dim and num_attn_heads dim into hidden_size"""
            tensor = tensor.permute(0, 2, 1, 3).contiguous()
            new_shape = tensor.size()[:-2] + (num_heads * attn_head_size,)
            return tensor.view(new_shape)

        def forward(self, hidden_states, layer_past=None, attention_mask=None, head_mask=None, use_cache=False,
                    output_attentions=False):
            query, key, value = self.c_attn(hidden_states).split(self.split_size, dim=2)
            query = self._split_heads(query, self.num_heads, self.head_dim)
            key = self._split_heads(key, self.num_heads, self.head_dim)
            value = self._split_heads(value, self.num_heads, self.head_dim)
            if layer_past is not None:
                past_key, past_value = layer_past
                key = torch.cat((past_key, key), dim=-2)
                value = torch.cat((past_value, value), dim=-2)
            if use_cache is True:
                present = (key, value)
            else:
                present = None
            impl = getattr(self.config, "attn_implementation", "eager")
            if impl == "sdpa" and not output_attentions and head_mask is None:
                # GPT2SdpaAttention: is_causal when there is no mask and more than one query
                q_len = query.size(-2)
                is_causal = True if attention_mask is None and q_len > 1 else False
                attn_output = torch.nn.functional.scaled_dot_product_attention(
                    query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=is_causal)
                attn_weights = None
            elif self.reorder_and_upcast_attn:
                attn_output, attn_weights = self._upcast_and_reordered_attn(query, key, value, attention_mask, head_mask)
            else:
                attn_output, attn_weights = self._attn(query, key, value, attention_mask, head_mask)
            attn_output = self._merge_heads(attn_output, self.num_heads, self.head_dim)
            attn_output = self.c_proj(attn_output)
            attn_output = self.resid_dropout(attn_output)
            outputs = (attn_output, present)
            if output_attentions:
                outputs += (attn_weights,)
            return outputs  # a, present, (attentions)

    class GPT2MLP(nn.Module):
        def __init__(self, intermediate_size, config):
            super().__init__()
            embed_dim = config.hidden_size
            self.c_fc = Conv1D(intermediate_size, embed_dim)
            self.c_proj = Conv1D(embed_dim, intermediate_size)
            self.act = NewGELUActivation()
            self.dropout = nn.Dropout(config.resid_pdrop)

        def forward(self, hidden_states):
            hidden_states = self.c_fc(hidden_states)
            hidden_states = self.act(hidden_states)
            hidden_states = self.c_proj(hidden_states)
            hidden_states = self.dropout(hidden_states)
            return hidden_states

    class GPT2Block(nn.Module):
        def __init__(self, config, layer_idx=None):
            super().__init__()
            hidden_size = config.hidden_size
            inner_dim = config.n_inner if config.n_inner is not None else 4 * hidden_size
            self.ln_1 = nn.LayerNorm(hidden_size, eps=config.layer_norm_epsilon)
            self.attn = GPT2Attention(config, layer_idx=layer_idx)
            self.ln_2 = nn.LayerNorm(hidden_size, eps=config.layer_norm_epsilon)
            self.mlp = GPT2MLP(inner_dim, config)

        def forward(self, hidden_states, layer_past=None, attention_mask=None, head_mask=None, use_cache=False,
                    output_attentions=False):
            residual = hidden_states
            hidden_states = self.ln_1(hidden_states)
            attn_outputs = self.attn(hidden_states, layer_past=layer_past, attention_mask=attention_mask,
                                     head_mask=head_mask, use_cache=use_cache, output_attentions=output_attentions)
            attn_output = attn_outputs[0]  # output_attn: a, present, (attentions)
            outputs = attn_outputs[1:]
            # residual connection
            hidden_states = attn_output + residual
            residual = hidden_states
            hidden_states = self.ln_2(hidden_states)
            feed_forward_hidden_states = self.mlp(hidden_states)
            # residual connection
            hidden_states = residual + feed_forward_hidden_states
            if use_cache:
                outputs = (hidden_states,) + outputs
            else:
                outputs = (hidden_states,) + outputs[1:]
            return outputs  # hidden_states, present, (attentions, cross_attentions)

    class GPT2PreTrainedModel(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config

        @property
        def dtype(self):
            return next(p for p in self.parameters() if p.is_floating_point()).dtype

        def _init_weights(self, module):
            """Initialize the weights (ported: in-place writes under no_grad instead of through .data)."""
            with torch.no_grad():
                if isinstance(module, (nn.Linear, Conv1D)):
                    module.weight.normal_(mean=0.0, std=self.config.initializer_range)
                    if module.bias is not None:
                        module.bias.zero_()
                elif isinstance(module, nn.Embedding):
                    module.weight.normal_(mean=0.0, std=self.config.initializer_range)
                    if module.padding_idx is not None:
                        module.weight[module.padding_idx].zero_()
                elif isinstance(module, nn.LayerNorm):
                    module.bias.zero_()
                    module.weight.fill_(1.0)
                # Reinitialize selected weights subject to the OpenAI GPT-2 Paper Scheme:
                #   > Scale the weights of residual layers at initialization by a factor of 1/sqrt(N)
                for name, p in module.named_parameters():
                    if name == "c_proj.weight":
                        # Special Scaled Initialization --> There are 2 Layer Norms per Transformer Block
                        p.normal_(mean=0.0, std=(self.config.initializer_range / math.sqrt(2 * self.config.n_layer)))

        def post_init(self):
            self.apply(self._init_weights)
            if getattr(self, "lm_head", None) is not None and self.config.tie_word_embeddings:
                self.lm_head.weight = self.transformer.wte.weight

    class GPT2Model(GPT2PreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.embed_dim = config.hidden_size
            self.wte = nn.Embedding(config.vocab_size, self.embed_dim)
            self.wpe = nn.Embedding(config.max_position_embeddings, self.embed_dim)
            self.drop = nn.Dropout(config.embd_pdrop)
            self.h = nn.ModuleList([GPT2Block(config, layer_idx=i) for i in range(config.num_hidden_layers)])
            self.ln_f = nn.LayerNorm(self.embed_dim, eps=config.layer_norm_epsilon)
            self.post_init()

        def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                    position_ids=None, use_cache=None, output_attentions=False):
            input_shape = input_ids.size()
            input_ids = input_ids.view(-1, input_shape[-1])
            batch_size = input_ids.shape[0]
            device = input_ids.device
            if token_type_ids is not None:
                token_type_ids = token_type_ids.view(-1, input_shape[-1])
            if past_key_values is None:
                past_length = 0
                past_key_values = tuple([None] * len(self.h))
            else:
                past_length = past_key_values[0][0].size(-2)
            if position_ids is None:
                position_ids = torch.arange(past_length, input_shape[-1] + past_length, dtype=torch.long, device=device)
                position_ids = position_ids.unsqueeze(0).view(-1, input_shape[-1])
            # GPT2Attention mask.
            if attention_mask is not None:
                if batch_size <= 0:
                    raise ValueError("batch_size has to be defined and > 0")
                attention_mask = attention_mask.view(batch_size, -1)
                # [batch_size, 1, 1, to_seq_length] so it broadcasts to [batch_size, num_heads, from_seq_length, to_seq_length]
                attention_mask = attention_mask[:, None, None, :]
                attention_mask = attention_mask.to(dtype=self.dtype)  # fp16 compatibility
                attention_mask = (1.0 - attention_mask) * torch.finfo(self.dtype).min
            head_mask = [None] * self.config.n_layer
            inputs_embeds = self.wte(input_ids)
            position_embeds = self.wpe(position_ids)
            hidden_states = inputs_embeds + position_embeds
            if token_type_ids is not None:
                token_type_embeds = self.wte(token_type_ids)
                hidden_states = hidden_states + token_type_embeds
            hidden_states = self.drop(hidden_states)
            output_shape = (-1,) + input_shape[1:] + (hidden_states.size(-1),)
            presents = () if use_cache else None
            all_self_attentions = () if output_attentions else None
            for i, (block, layer_past) in enumerate(zip(self.h, past_key_values)):
                outputs = block(hidden_states, layer_past=layer_past, attention_mask=attention_mask,
                                head_mask=head_mask[i], use_cache=use_cache, output_attentions=output_attentions)
                hidden_states = outputs[0]
                if use_cache is True:
                    presents = presents + (outputs[1],)
                if output_attentions:
                    all_self_attentions = all_self_attentions + (outputs[2 if use_cache else 1],)
            hidden_states = self.ln_f(hidden_states)
            hidden_states = hidden_states.view(output_shape)
            return tuple(v for v in [hidden_states, presents, all_self_attentions] if v is not None)

    class GPT2LMHeadModel(GPT2PreTrainedModel):
        _tied_weights_keys = ["lm_head.weight"]

        def __init__(self, config):
            super().__init__(config)
            self.transformer = GPT2Model(config)
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            self.post_init()

        def forward(self, input_ids=None, past_key_values=None, attention_mask=None, position_ids=None,
                    labels=None, use_cache=None):
            transformer_outputs = self.transformer(input_ids, past_key_values=past_key_values,
                                                   attention_mask=attention_mask, position_ids=position_ids,
                                                   use_cache=use_cache)
            hidden_states = transformer_outputs[0]
            lm_logits = self.lm_head(hidden_states)
            loss = None
            if labels is not None:
                # Shift so that tokens < n predict n
                shift_logits = lm_logits[..., :-1, :].contiguous()
                shift_labels = labels[..., 1:].contiguous()
                # Flatten the tokens
                loss_fct = CrossEntropyLoss()
                loss = loss_fct(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1))
            return (loss, lm_logits) + transformer_outputs[1:]

    return SimpleNamespace(GPT2LMHeadModel=GPT2LMHeadModel, GPT2Model=GPT2Model, Conv1D=Conv1D,
                           NewGELUActivation=NewGELUActivation)


GV, GE, GL, GH, GMAX = 17, 8, 2, 2, 12


def gpt2_config(**kw):
    cfg = dict(vocab_size=GV, n_embd=GE, hidden_size=GE, n_layer=GL, num_hidden_layers=GL, num_attention_heads=GH,
               n_inner=None, max_position_embeddings=GMAX, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
               layer_norm_epsilon=1e-5, initializer_range=0.02, scale_attn_weights=True,
               scale_attn_by_inverse_layer_idx=False, tie_word_embeddings=True)
    cfg.update(kw)
    return SimpleNamespace(**cfg)


def _gpt2_pair(seed=0, **cfg):
    t_ns, m_ns = build_gpt2(torch), build_gpt2(mg)
    torch.manual_seed(seed)
    t_model = t_ns.GPT2LMHeadModel(gpt2_config(**cfg))
    m_model = m_ns.GPT2LMHeadModel(gpt2_config(**cfg))
    _copy_weights(t_model, m_model)
    return t_model, m_model


def test_gpt2_conv1d_addmm_matches_torch():
    """Conv1D: weight (nx, nf), addmm(bias, x.view(-1, nx), weight) then view back; 3-d input, grads of all three."""
    t_ns, m_ns = build_gpt2(torch), build_gpt2(mg)
    torch.manual_seed(1)
    t_c = t_ns.Conv1D(5, 4)
    m_c = m_ns.Conv1D(5, 4)
    assert tuple(m_c.weight.shape) == (4, 5)
    _copy_weights(t_c, m_c)
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    res = []
    for lib, c in ((torch, t_c), (mg, m_c)):
        xi = lib.tensor(x, requires_grad=True)
        y = c(xi)
        (y * y).sum().backward()
        res.append((y, xi.grad))
    _close("Conv1D out", res[1][0], res[0][0])
    _close("Conv1D x.grad", res[1][1], res[0][1])
    _same_grads(m_c, t_c)


@pytest.mark.parametrize("inverse_layer_idx", [False, True])
def test_gpt2_lm_trains_like_torch(inverse_layer_idx):
    t_model, m_model = _gpt2_pair(scale_attn_by_inverse_layer_idx=inverse_layer_idx)
    for model in (t_model, m_model):
        assert model.lm_head.weight is model.transformer.wte.weight
    assert "lm_head.weight" not in [n for n, _ in m_model.named_parameters()]
    assert "transformer.h.0.attn.bias" not in m_model.state_dict()  # non-persistent bool mask
    assert m_model.transformer.h[0].attn.bias.dtype == mg.bool
    opts = [lib.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95))
            for lib, model in ((torch, t_model), (mg, m_model))]
    mask = np.ones((3, 7), dtype=np.int64)
    mask[2, :2] = 0  # left padding, as batched generation uses
    for step in range(3):
        res = []
        for lib, model, opt in ((torch, t_model, opts[0]), (mg, m_model, opts[1])):
            ids = _ids(lib, (3, 7), GV, 20 + step)
            opt.zero_grad()
            loss, logits = model(ids, attention_mask=lib.tensor(mask), labels=ids)[:2]
            loss.backward()
            res.append((loss, logits))
        _close(f"loss step {step}", res[1][0], res[0][0])
        _close(f"logits step {step}", res[1][1], res[0][1])
        _same_grads(m_model, t_model)  # wte.grad: lookups + lm_head product
        for opt in opts:
            opt.step()
    _same_state(m_model, t_model)


def test_gpt2_past_key_values_incremental_decoding():
    """Greedy decoding with the KV cache (torch.cat along the sequence) gives the same logits as recomputing the
    full forward each step, in both libraries, and the two libraries agree; presents have (b, h, t, d) shapes."""
    t_model, m_model = _gpt2_pair(seed=4)
    results = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        model.eval()
        ids = _ids(lib, (2, 3), GV, 8)
        with lib.no_grad():
            _, logits, past = model(ids, use_cache=True)
            assert len(past) == GL and tuple(past[0][0].shape) == (2, GH, 3, GE // GH)
            steps_cached, steps_full = [logits[:, -1, :]], []
            seq = ids
            for _ in range(5):
                nxt = steps_cached[-1].argmax(dim=-1, keepdim=True)
                seq = lib.cat((seq, nxt), dim=1)
                _, logits, past = model(nxt, past_key_values=past, use_cache=True)
                steps_cached.append(logits[:, -1, :])
                steps_full.append(model(seq)[1][:, -1, :])
            assert tuple(past[1][1].shape) == (2, GH, 8, GE // GH)
        for i, (c, f) in enumerate(zip(steps_cached[1:], steps_full)):
            np.testing.assert_allclose(_np(c), _np(f), rtol=1e-10, atol=1e-12, err_msg=f"cache vs full step {i}")
        results.append((seq, steps_cached))
    np.testing.assert_array_equal(_np(results[1][0]), _np(results[0][0]))
    for i, (a, b) in enumerate(zip(results[1][1], results[0][1])):
        _close(f"cached logits step {i}", a, b)


def test_gpt2_cache_gradients_flow_through_past():
    """past_key_values from a forward with grad: a loss on the continuation backpropagates into the prefix pass."""
    t_model, m_model = _gpt2_pair(seed=5)
    res = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        ids = _ids(lib, (2, 6), GV, 9)
        _, _, past = model(ids[:, :4], use_cache=True)
        loss, _ = model(ids[:, 4:], past_key_values=past, labels=ids[:, 4:])[:2]
        loss.backward()
        res.append(loss)
    _close("continuation loss", res[1], res[0])
    _same_grads(m_model, t_model)


def test_gpt2_gelu_new_matches_tanh_gelu():
    x = np.linspace(-5, 5, 31)
    got = []
    for lib in (torch, mg):
        a = lib.tensor(x, requires_grad=True)
        y = build_gpt2(lib).NewGELUActivation()(a)
        y.sum().backward()
        got.append((y, a.grad, lib.nn.functional.gelu(lib.tensor(x), approximate="tanh")))
    for i, name in enumerate(("gelu_new", "gelu_new grad", "F.gelu tanh")):
        _close(name, got[1][i], got[0][i])
    _close("gelu_new vs F.gelu(approximate='tanh')", got[1][0], got[1][2])


def test_gpt2_init_scaled_c_proj():
    mg.manual_seed(0)
    model = build_gpt2(mg).GPT2LMHeadModel(gpt2_config(n_embd=64, hidden_size=64, n_layer=8, num_hidden_layers=8))
    for name, p in model.named_parameters():
        a = _np(p)
        if name.endswith("c_proj.weight"):
            want = 0.02 / math.sqrt(16)
            assert 0.85 * want < a.std() < 1.15 * want, (name, a.std())
        elif name.endswith(("attn.c_attn.weight", "mlp.c_fc.weight", "wte.weight")):
            assert 0.018 < a.std() < 0.022, (name, a.std())
        elif name.endswith("ln_1.weight"):
            assert np.all(a == 1.0)


def test_gpt2_float32_as_written(float32_defaults):
    t_model, m_model = _gpt2_pair(seed=2)
    res = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        ids = _ids(lib, (2, 6), GV, 1)
        loss, logits = model(ids, attention_mask=lib.ones(2, 6, dtype=lib.long), labels=ids)[:2]
        loss.backward()
        res.append((loss, logits))
    assert res[1][1].dtype == mg.float32
    _close("loss f32", res[1][0], res[0][0], **TOL32)
    _close("logits f32", res[1][1], res[0][1], **TOL32)
    for (k, p), (_, q) in zip(m_model.named_parameters(), t_model.named_parameters()):
        assert p.grad.dtype == mg.float32, k
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-4, atol=1e-6, err_msg=k)


# ================================================================ T5 pieces
def build_t5(torch, as_written=True):
    """modeling_t5.py's pieces, written against the namespace `torch`.

    as_written=False swaps T5's float32 islands (`.to(torch.float32)`, `.float()`) for the model's own dtype, the
    only change needed to run a float64 model in minigrad (which refuses float64 * float32, see module doc)."""
    nn = torch.nn

    def f32(x):
        return x.to(torch.float32) if as_written else x

    class T5LayerNorm(nn.Module):
        def __init__(self, hidden_size, eps=1e-6):
            """Construct a layernorm module in the T5 style. No bias and no subtraction of mean."""
            super().__init__()
            self.weight = nn.Parameter(torch.ones(hidden_size))
            self.variance_epsilon = eps

        def forward(self, hidden_states):
            # T5 uses a layer_norm which only scales and doesn't shift, which is also known as Root Mean
            # Square Layer Normalization; the variance is computed in fp32 (half-precision inputs)
            variance = f32(hidden_states).pow(2).mean(-1, keepdim=True)
            hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
            # convert into half-precision if necessary (torch.bfloat16 ported away: minigrad has no bfloat16)
            if self.weight.dtype == torch.float16:
                hidden_states = hidden_states.to(self.weight.dtype)
            return self.weight * hidden_states

    class T5DenseActDense(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.wi = nn.Linear(config.d_model, config.d_ff, bias=False)
            self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
            self.dropout = nn.Dropout(config.dropout_rate)
            self.act = nn.ReLU()

        def forward(self, hidden_states):
            hidden_states = self.wi(hidden_states)
            hidden_states = self.act(hidden_states)
            hidden_states = self.dropout(hidden_states)
            if (isinstance(self.wo.weight, torch.Tensor) and hidden_states.dtype != self.wo.weight.dtype
                    and self.wo.weight.dtype != torch.int8):
                hidden_states = hidden_states.to(self.wo.weight.dtype)
            hidden_states = self.wo(hidden_states)
            return hidden_states

    class T5LayerFF(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.DenseReluDense = T5DenseActDense(config)
            self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
            self.dropout = nn.Dropout(config.dropout_rate)

        def forward(self, hidden_states):
            forwarded_states = self.layer_norm(hidden_states)
            forwarded_states = self.DenseReluDense(forwarded_states)
            hidden_states = hidden_states + self.dropout(forwarded_states)
            return hidden_states

    class T5Attention(nn.Module):
        def __init__(self, config, has_relative_attention_bias=False):
            super().__init__()
            self.is_decoder = config.is_decoder
            self.has_relative_attention_bias = has_relative_attention_bias
            self.relative_attention_num_buckets = config.relative_attention_num_buckets
            self.relative_attention_max_distance = config.relative_attention_max_distance
            self.d_model = config.d_model
            self.key_value_proj_dim = config.d_kv
            self.n_heads = config.num_heads
            self.dropout = config.dropout_rate
            self.inner_dim = self.n_heads * self.key_value_proj_dim
            # Mesh TensorFlow initialization to avoid scaling before softmax
            self.q = nn.Linear(self.d_model, self.inner_dim, bias=False)
            self.k = nn.Linear(self.d_model, self.inner_dim, bias=False)
            self.v = nn.Linear(self.d_model, self.inner_dim, bias=False)
            self.o = nn.Linear(self.inner_dim, self.d_model, bias=False)
            if self.has_relative_attention_bias:
                self.relative_attention_bias = nn.Embedding(self.relative_attention_num_buckets, self.n_heads)

        @staticmethod
        def _relative_position_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
            relative_buckets = 0
            if bidirectional:
                num_buckets //= 2
                relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
                relative_position = torch.abs(relative_position)
            else:
                relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
            # now relative_position is in the range [0, inf)
            # half of the buckets are for exact increments in positions
            max_exact = num_buckets // 2
            is_small = relative_position < max_exact
            # The other half of the buckets are for logarithmically bigger bins in positions up to max_distance
            relative_position_if_large = max_exact + (
                torch.log(relative_position.float() / max_exact)
                / math.log(max_distance / max_exact)
                * (num_buckets - max_exact)
            ).to(torch.long)
            relative_position_if_large = torch.min(
                relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1)
            )
            relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
            return relative_buckets

        def compute_bias(self, query_length, key_length, device=None):
            """Compute binned relative position bias"""
            if device is None:
                device = self.relative_attention_bias.weight.device
            context_position = torch.arange(query_length, dtype=torch.long, device=device)[:, None]
            memory_position = torch.arange(key_length, dtype=torch.long, device=device)[None, :]
            relative_position = memory_position - context_position  # shape (query_length, key_length)
            relative_position_bucket = self._relative_position_bucket(
                relative_position,  # shape (query_length, key_length)
                bidirectional=(not self.is_decoder),
                num_buckets=self.relative_attention_num_buckets,
                max_distance=self.relative_attention_max_distance,
            )
            values = self.relative_attention_bias(relative_position_bucket)  # shape (query_length, key_length, num_heads)
            values = values.permute([2, 0, 1]).unsqueeze(0)  # shape (1, num_heads, query_length, key_length)
            return values

        def forward(self, hidden_states, mask=None, key_value_states=None, position_bias=None):
            batch_size, seq_length = hidden_states.shape[:2]
            real_seq_length = seq_length
            key_length = real_seq_length if key_value_states is None else key_value_states.shape[1]

            def shape(states):
                """projection"""
                return states.view(batch_size, -1, self.n_heads, self.key_value_proj_dim).transpose(1, 2)

            def unshape(states):
                """reshape"""
                return states.transpose(1, 2).contiguous().view(batch_size, -1, self.inner_dim)

            query_states = shape(self.q(hidden_states))  # (batch_size, n_heads, seq_length, dim_per_head)
            kv_input = hidden_states if key_value_states is None else key_value_states
            key_states = shape(self.k(kv_input))
            value_states = shape(self.v(kv_input))
            # compute scores (no 1/sqrt(d) scaling: folded into the initialization)
            scores = torch.matmul(query_states, key_states.transpose(3, 2))
            if position_bias is None:
                if not self.has_relative_attention_bias:
                    position_bias = torch.zeros((1, self.n_heads, real_seq_length, key_length),
                                                device=scores.device, dtype=scores.dtype)
                else:
                    position_bias = self.compute_bias(real_seq_length, key_length, device=scores.device)
                if mask is not None:
                    position_bias = position_bias + mask  # (batch_size, n_heads, seq_length, key_length)
            scores += position_bias
            attn_weights = nn.functional.softmax(scores.float() if as_written else scores, dim=-1).type_as(scores)
            attn_weights = nn.functional.dropout(attn_weights, p=self.dropout, training=self.training)
            attn_output = unshape(torch.matmul(attn_weights, value_states))  # (batch_size, seq_length, dim)
            attn_output = self.o(attn_output)
            return (attn_output, position_bias)

    class T5LayerSelfAttention(nn.Module):
        def __init__(self, config, has_relative_attention_bias=False):
            super().__init__()
            self.SelfAttention = T5Attention(config, has_relative_attention_bias=has_relative_attention_bias)
            self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
            self.dropout = nn.Dropout(config.dropout_rate)

        def forward(self, hidden_states, attention_mask=None, position_bias=None):
            normed_hidden_states = self.layer_norm(hidden_states)
            attention_output = self.SelfAttention(normed_hidden_states, mask=attention_mask,
                                                  position_bias=position_bias)
            hidden_states = hidden_states + self.dropout(attention_output[0])
            return (hidden_states,) + attention_output[1:]

    class T5LayerCrossAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.EncDecAttention = T5Attention(config, has_relative_attention_bias=False)
            self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
            self.dropout = nn.Dropout(config.dropout_rate)

        def forward(self, hidden_states, key_value_states, attention_mask=None, position_bias=None):
            normed_hidden_states = self.layer_norm(hidden_states)
            attention_output = self.EncDecAttention(normed_hidden_states, mask=attention_mask,
                                                    key_value_states=key_value_states, position_bias=position_bias)
            layer_output = hidden_states + self.dropout(attention_output[0])
            return (layer_output,) + attention_output[1:]

    class T5Block(nn.Module):
        def __init__(self, config, has_relative_attention_bias=False):
            super().__init__()
            self.is_decoder = config.is_decoder
            self.layer = nn.ModuleList()
            self.layer.append(T5LayerSelfAttention(config, has_relative_attention_bias=has_relative_attention_bias))
            if self.is_decoder:
                self.layer.append(T5LayerCrossAttention(config))
            self.layer.append(T5LayerFF(config))

        def forward(self, hidden_states, attention_mask=None, position_bias=None, encoder_hidden_states=None,
                    encoder_attention_mask=None, encoder_decoder_position_bias=None):
            self_attention_outputs = self.layer[0](hidden_states, attention_mask=attention_mask,
                                                   position_bias=position_bias)
            hidden_states = self_attention_outputs[0]
            attention_outputs = self_attention_outputs[1:]  # Keep relative position weights
            if self.is_decoder and encoder_hidden_states is not None:
                cross_attention_outputs = self.layer[1](hidden_states, key_value_states=encoder_hidden_states,
                                                        attention_mask=encoder_attention_mask,
                                                        position_bias=encoder_decoder_position_bias)
                hidden_states = cross_attention_outputs[0]
                attention_outputs = attention_outputs + cross_attention_outputs[1:]
            hidden_states = self.layer[-1](hidden_states)
            return (hidden_states,) + attention_outputs

    class T5Stack(nn.Module):
        def __init__(self, config, embed_tokens=None):
            super().__init__()
            self.config = config
            self.embed_tokens = embed_tokens
            self.is_decoder = config.is_decoder
            self.block = nn.ModuleList(
                [T5Block(config, has_relative_attention_bias=bool(i == 0)) for i in range(config.num_layers)])
            self.final_layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
            self.dropout = nn.Dropout(config.dropout_rate)

        @property
        def dtype(self):
            return next(p for p in self.parameters() if p.is_floating_point()).dtype

        def get_extended_attention_mask(self, attention_mask, input_shape):
            dtype = self.dtype
            if attention_mask.dim() == 3:
                extended_attention_mask = attention_mask[:, None, :, :]
            elif attention_mask.dim() == 2:
                if self.is_decoder:  # causal mask combined with the padding mask
                    batch_size, seq_length = input_shape
                    seq_ids = torch.arange(seq_length, device=attention_mask.device)
                    causal_mask = seq_ids[None, None, :].repeat(batch_size, seq_length, 1) <= seq_ids[None, :, None]
                    causal_mask = causal_mask.to(attention_mask.dtype)
                    extended_attention_mask = causal_mask[:, None, :, :] * attention_mask[:, None, None, :]
                else:
                    extended_attention_mask = attention_mask[:, None, None, :]
            extended_attention_mask = extended_attention_mask.to(dtype=dtype)  # fp16 compatibility
            return (1.0 - extended_attention_mask) * torch.finfo(dtype).min

        def invert_attention_mask(self, encoder_attention_mask):
            encoder_extended_attention_mask = encoder_attention_mask[:, None, None, :]
            encoder_extended_attention_mask = encoder_extended_attention_mask.to(dtype=self.dtype)
            return (1.0 - encoder_extended_attention_mask) * torch.finfo(self.dtype).min

        def forward(self, input_ids, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None):
            input_shape = input_ids.size()
            input_ids = input_ids.view(-1, input_shape[-1])
            inputs_embeds = self.embed_tokens(input_ids)
            batch_size, seq_length = input_shape
            if attention_mask is None:
                attention_mask = torch.ones(batch_size, seq_length, device=inputs_embeds.device)
            extended_attention_mask = self.get_extended_attention_mask(attention_mask, input_shape)
            if self.is_decoder and encoder_hidden_states is not None:
                encoder_batch_size, encoder_sequence_length, _ = encoder_hidden_states.size()
                if encoder_attention_mask is None:
                    encoder_attention_mask = torch.ones((encoder_batch_size, encoder_sequence_length),
                                                        device=inputs_embeds.device, dtype=torch.long)
                encoder_extended_attention_mask = self.invert_attention_mask(encoder_attention_mask)
            else:
                encoder_extended_attention_mask = None
            position_bias = None
            encoder_decoder_position_bias = None
            hidden_states = self.dropout(inputs_embeds)
            for i, layer_module in enumerate(self.block):
                layer_outputs = layer_module(hidden_states, attention_mask=extended_attention_mask,
                                             position_bias=position_bias, encoder_hidden_states=encoder_hidden_states,
                                             encoder_attention_mask=encoder_extended_attention_mask,
                                             encoder_decoder_position_bias=encoder_decoder_position_bias)
                hidden_states = layer_outputs[0]
                # We share the position biases between the layers - the first layer store them
                position_bias = layer_outputs[1]
                if self.is_decoder and encoder_hidden_states is not None:
                    encoder_decoder_position_bias = layer_outputs[2]
            hidden_states = self.final_layer_norm(hidden_states)
            hidden_states = self.dropout(hidden_states)
            return hidden_states

    class T5Seq2Seq(nn.Module):
        """T5ForConditionalGeneration, trimmed: shared embedding, encoder, decoder, tied lm_head with the
        d_model**-0.5 rescale, shift_right, the -100-ignoring cross entropy."""

        def __init__(self, config):
            super().__init__()
            import copy
            self.model_dim = config.d_model
            self.config = config
            self.shared = nn.Embedding(config.vocab_size, config.d_model)
            encoder_config = copy.deepcopy(config)
            encoder_config.is_decoder = False
            self.encoder = T5Stack(encoder_config, self.shared)
            decoder_config = copy.deepcopy(config)
            decoder_config.is_decoder = True
            decoder_config.num_layers = config.num_decoder_layers
            self.decoder = T5Stack(decoder_config, self.shared)
            self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
            self.lm_head.weight = self.shared.weight

        def _shift_right(self, input_ids):
            decoder_start_token_id = self.config.decoder_start_token_id
            pad_token_id = self.config.pad_token_id
            shifted_input_ids = input_ids.new_zeros(input_ids.shape)
            shifted_input_ids[..., 1:] = input_ids[..., :-1].clone()
            shifted_input_ids[..., 0] = decoder_start_token_id
            # replace possible -100 values in labels by `pad_token_id`
            shifted_input_ids.masked_fill_(shifted_input_ids == -100, pad_token_id)
            return shifted_input_ids

        def forward(self, input_ids, attention_mask=None, labels=None):
            hidden_states = self.encoder(input_ids, attention_mask=attention_mask)
            decoder_input_ids = self._shift_right(labels)
            sequence_output = self.decoder(decoder_input_ids, encoder_hidden_states=hidden_states,
                                           encoder_attention_mask=attention_mask)
            if self.config.tie_word_embeddings:
                # Rescale output before projecting on vocab
                sequence_output = sequence_output * (self.model_dim**-0.5)
            lm_logits = self.lm_head(sequence_output)
            loss_fct = nn.CrossEntropyLoss(ignore_index=-100)
            loss = loss_fct(lm_logits.view(-1, lm_logits.size(-1)), labels.view(-1))
            return loss, lm_logits

    return SimpleNamespace(T5LayerNorm=T5LayerNorm, T5Attention=T5Attention, T5Stack=T5Stack, T5Seq2Seq=T5Seq2Seq)


TV, TD = 19, 8


def t5_config(**kw):
    cfg = dict(vocab_size=TV, d_model=TD, d_kv=3, d_ff=10, num_layers=2, num_decoder_layers=2, num_heads=2,
               relative_attention_num_buckets=8, relative_attention_max_distance=12, dropout_rate=0.0,
               layer_norm_epsilon=1e-6, is_decoder=False, tie_word_embeddings=True, decoder_start_token_id=0,
               pad_token_id=0)
    cfg.update(kw)
    return SimpleNamespace(**cfg)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (8, 12), (6, 20)])
def test_t5_relative_position_bucket_matches_torch(bidirectional, num_buckets, max_distance):
    """All relative positions from -150 to 150 (past max_distance: the min clamp), int64 buckets as torch's."""
    rel = np.arange(-150, 151)[None, :] + np.arange(0, 3)[:, None]
    got = [build_t5(lib).T5Attention._relative_position_bucket(lib.tensor(rel), bidirectional=bidirectional,
                                                                  num_buckets=num_buckets, max_distance=max_distance)
           for lib in (torch, mg)]
    _close("buckets", got[1], got[0], rtol=0, atol=0)
    b = _np(got[1])
    assert b.min() >= 0 and b.max() == num_buckets - 1


def test_t5_compute_bias_and_unscaled_attention():
    """compute_bias: the bucket Embedding output permuted to (1, heads, q, k); attention scores without 1/sqrt(d)."""
    res = []
    for lib in (torch, mg):
        torch.manual_seed(0)
        mg.manual_seed(0)
        res.append(build_t5(lib, as_written=False).T5Attention(t5_config(), has_relative_attention_bias=True))
    t_att, m_att = res
    _copy_weights(t_att, m_att)
    bias = [a.compute_bias(4, 6) for a in (t_att, m_att)]
    assert tuple(bias[1].shape) == (1, 2, 4, 6)
    _close("compute_bias", bias[1], bias[0])
    x = np.random.default_rng(0).standard_normal((2, 4, TD))
    out = []
    for lib, att in ((torch, t_att), (mg, m_att)):
        xi = lib.tensor(x, requires_grad=True)
        y, pb = att(xi)
        (y.pow(2).sum() + pb.sum()).backward()
        out.append((y, pb, xi.grad))
        # unscaled: softmax(q k^T + bias) v o, written out with the layer's own weights
        with lib.no_grad():
            q = att.q(xi).view(2, 4, 2, 3).transpose(1, 2)
            k = att.k(xi).view(2, 4, 2, 3).transpose(1, 2)
            v = att.v(xi).view(2, 4, 2, 3).transpose(1, 2)
            w = lib.softmax(q @ k.transpose(-1, -2) + att.compute_bias(4, 4), dim=-1)
            ref = att.o((w @ v).transpose(1, 2).reshape(2, 4, 6))
        np.testing.assert_allclose(_np(y), _np(ref), rtol=1e-12, atol=1e-14)
    for name, a, b in zip(("attn out", "position_bias", "x.grad"), out[1], out[0]):
        _close(name, a, b)
    _same_grads(m_att, t_att)  # relative_attention_bias.weight.grad: the buckets' scatter-add


def test_t5_layernorm_float32_as_written(float32_defaults):
    x = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(np.float32) * 3
    res = []
    for lib in (torch, mg):
        ln = build_t5(lib).T5LayerNorm(5)
        with lib.no_grad():
            ln.weight.copy_(lib.tensor(np.linspace(0.5, 1.5, 5).astype(np.float32)))
        xi = lib.tensor(x, requires_grad=True)
        y = ln(xi)
        (y * y.detach().sign()).sum().backward()
        res.append((y, xi.grad, ln.weight.grad))
    for name, a, b in zip(("rmsnorm", "x.grad", "weight.grad"), res[1], res[0]):
        assert _np(a).dtype == np.float32
        _close(name, a, b, **TOL32)
    # the same as minigrad's nn.RMSNorm
    rms = mg.nn.RMSNorm(5, eps=1e-6)
    with mg.no_grad():
        rms.weight.copy_(mg.tensor(np.linspace(0.5, 1.5, 5).astype(np.float32)))
    _close("T5LayerNorm vs nn.RMSNorm", rms(mg.tensor(x)), res[1][0], **TOL32)


def test_t5_float64_as_written_mixes_dtypes():
    """Documented difference: in a float64 model, T5LayerNorm's float32 variance times the float64 hidden states is
    promoted by torch and refused by minigrad with a TypeError naming the op; the model's-own-dtype spelling runs."""
    x = np.random.default_rng(2).standard_normal((2, 5))
    y_t = build_t5(torch).T5LayerNorm(5)(torch.tensor(x))
    assert y_t.dtype == torch.float64
    with pytest.raises(TypeError, match=r"mul.*float64.*float32"):
        build_t5(mg).T5LayerNorm(5)(mg.tensor(x))
    y_m = build_t5(mg, as_written=False).T5LayerNorm(5)(mg.tensor(x))
    y_t64 = build_t5(torch, as_written=False).T5LayerNorm(5)(torch.tensor(x))
    _close("float64 rmsnorm", y_m, y_t64)


def _t5_inputs(lib):
    rng = np.random.default_rng(3)
    ids = rng.integers(1, TV, size=(2, 6))
    mask = np.ones((2, 6), dtype=np.int64)
    mask[1, 4:] = 0
    ids[1, 4:] = 0
    labels = rng.integers(1, TV, size=(2, 5))
    labels[0, 4] = -100
    return lib.tensor(ids), lib.tensor(mask), lib.tensor(labels)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_t5_seq2seq_trains_like_torch(dtype):
    """Encoder (bidirectional buckets, bias shared across layers, padding mask) + decoder (causal buckets and
    mask, cross-attention, start-token shift, -100 labels) + tied lm_head; three AdamW steps."""
    as_written = dtype == "float32"
    if dtype == "float32":
        torch.set_default_dtype(torch.float32)
        mg.set_default_dtype(mg.float32)
    torch.manual_seed(0)
    t_model = build_t5(torch, as_written).T5Seq2Seq(t5_config())
    m_model = build_t5(mg, as_written).T5Seq2Seq(t5_config())
    _copy_weights(t_model, m_model)
    names = [n for n, _ in m_model.named_parameters()]
    assert names == [n for n, _ in t_model.named_parameters()]
    assert "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight" in names
    assert "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" not in names
    assert m_model.lm_head.weight is m_model.shared.weight is m_model.encoder.embed_tokens.weight
    tol = TOL if dtype == "float64" else TOL32
    opts = [lib.optim.AdamW(model.parameters(), lr=1e-2) for lib, model in ((torch, t_model), (mg, m_model))]
    for step in range(3):
        res = []
        for lib, model, opt in ((torch, t_model, opts[0]), (mg, m_model, opts[1])):
            ids, mask, labels = _t5_inputs(lib)
            opt.zero_grad()
            loss, logits = model(ids, attention_mask=mask, labels=labels)
            loss.backward()
            res.append((loss, logits))
            assert res[-1][1].dtype == getattr(lib, dtype)
        _close(f"loss step {step}", res[1][0], res[0][0], **tol)
        _close(f"logits step {step}", res[1][1], res[0][1], **tol)
        if dtype == "float64":
            _same_grads(m_model, t_model)
        else:
            for (k, p), (_, q) in zip(m_model.named_parameters(), t_model.named_parameters()):
                assert p.grad.dtype == mg.float32, k
                np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-4, atol=1e-6, err_msg=k)
        for opt in opts:
            opt.step()
    if dtype == "float64":
        _same_state(m_model, t_model)
    shifted = [model._shift_right(_t5_inputs(lib)[2]) for lib, model in ((torch, t_model), (mg, m_model))]
    _close("shift_right", shifted[1], shifted[0], rtol=0, atol=0)


# ---------------------------------------------------------------- more paths of the same files
def test_bert_sdpa_attention_matches_eager_and_torch():
    """BertSdpaSelfAttention (F.scaled_dot_product_attention with the expanded (b, 1, t, s) mask filled with
    finfo.min by masked_fill) against torch's, and against the eager path of the same weights."""
    t_model, m_model = _bert_pair("BertForSequenceClassification", attn_implementation="sdpa")
    res = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        ids, mask, tt = _bert_inputs(lib)
        loss, logits = model(ids, attention_mask=mask, token_type_ids=tt, labels=lib.tensor([2, 0, 1]))
        loss.backward()
        res.append((loss, logits))
        model.config.attn_implementation = "eager"
        for layer in model.bert.encoder.layer:
            layer.attention.self.attn_implementation = "eager"
        eager = model(ids, attention_mask=mask, token_type_ids=tt)[1]
        np.testing.assert_allclose(_np(eager), _np(logits), rtol=1e-10, atol=1e-12)
    _close("sdpa loss", res[1][0], res[0][0])
    _close("sdpa logits", res[1][1], res[0][1])
    _same_grads(m_model, t_model)


def test_bert_head_mask():
    """get_head_mask: a (heads,) mask broadcast to every layer as (layers, 1, heads, 1, 1), multiplied into the
    attention probabilities; a (layers, heads) mask per layer."""
    t_model, m_model = _bert_pair("BertModel")
    for hm in (np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.5]])):
        res = []
        for lib, model in ((torch, t_model), (mg, m_model)):
            model.zero_grad()
            ids, mask, tt = _bert_inputs(lib)
            seq, pooled, attn = model(ids, attention_mask=mask, head_mask=lib.tensor(hm), output_attentions=True)
            seq.sum().backward()
            res.append((seq, attn))
        _close("head-masked output", res[1][0], res[0][0])
        for i, (a, b) in enumerate(zip(res[1][1], res[0][1])):
            _close(f"head-masked attentions[{i}]", a, b)
        _same_grads(m_model, t_model)
    assert np.all(_np(res[1][1][0])[:, 0] == 0.0)


def test_bert_resize_token_embeddings():
    """HF's resize: a new Embedding, `new.weight.data[:n, :] = old.weight.data[:n, :]` (NumPy slice writes in
    minigrad, tensor writes in torch: both copy), the padded MLM bias, re-tied decoder; then trains like torch."""
    t_model, m_model = _bert_pair("BertForMaskedLM")
    torch.manual_seed(1)
    t_new = t_model.resize_token_embeddings(BV + 3)
    m_new = m_model.resize_token_embeddings(BV + 3)
    np.testing.assert_array_equal(_np(m_new.weight)[:BV], _np(t_model.bert.embeddings.word_embeddings.weight)[:BV])
    assert np.all(_np(m_model.cls.predictions.bias)[BV:] == 0)
    with mg.no_grad():  # the three new rows are random in each library: take torch's
        m_new.weight.copy_(mg.tensor(t_new.weight.detach().numpy()))
    for model in (t_model, m_model):
        dec = model.cls.predictions.decoder
        assert dec.weight is model.bert.embeddings.word_embeddings.weight and dec.out_features == BV + 3
        assert dec.bias is model.cls.predictions.bias and tuple(dec.bias.shape) == (BV + 3,)
    _same_state(m_model, t_model)
    res = []
    labels = np.full((3, BT), -100)
    labels[:, 2] = [BV, BV + 2, 1]  # the new tokens as targets
    for lib, model in ((torch, t_model), (mg, m_model)):
        ids, mask, tt = _bert_inputs(lib)
        loss, scores = model(ids, attention_mask=mask, labels=lib.tensor(labels))
        loss.backward()
        res.append((loss, scores))
    _close("resized loss", res[1][0], res[0][0])
    _close("resized scores", res[1][1], res[0][1])
    _same_grads(m_model, t_model)


def test_pad_of_raw_data_array_is_a_clear_type_error():
    """HF's `_tie_or_clone_weights` pads `output_embeddings.bias.data`: a raw NumPy array in minigrad. F.pad used
    to fail inside with "'memoryview' object has no attribute 'dtype'"; it now names the op and the port."""
    b = mg.nn.Parameter(mg.zeros(3))
    with pytest.raises(TypeError, match=r"pad: input must be a Tensor, got ndarray.*raw array"):
        mg.nn.functional.pad(b.data, (0, 2), "constant", 0)
    with pytest.raises(TypeError, match="pad: input must be a Tensor"):
        mg.nn.functional.pad([1.0, 2.0], (1, 1))
    _close("pad of the tensor", mg.nn.functional.pad(b.detach(), (0, 2), "constant", 0),
           torch.nn.functional.pad(torch.zeros(3), (0, 2), "constant", 0), rtol=0, atol=0)


def test_gpt2_sdpa_path_and_cache(float32_defaults):
    """GPT2SdpaAttention: is_causal=True on the prompt, is_causal=False for one cached query; float32 as written."""
    t_model, m_model = _gpt2_pair(seed=6, attn_implementation="sdpa")
    res = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        ids = _ids(lib, (2, 5), GV, 4)
        loss, logits, past = model(ids, labels=ids, use_cache=True)
        loss.backward()
        _, nxt_logits = model(ids[:, -1:] * 0 + 3, past_key_values=past)[:2]
        res.append((loss, logits, nxt_logits))
        model.config.attn_implementation = "eager"
        eager = model(ids)[1]
        np.testing.assert_allclose(_np(eager), _np(logits), rtol=1e-5, atol=1e-6)
        model.config.attn_implementation = "sdpa"
    for name, a, b in zip(("loss", "logits", "cached next logits"), res[1], res[0]):
        assert _np(a).dtype == np.float32
        _close(f"sdpa {name}", a, b, **TOL32)
    for (k, p), (_, q) in zip(m_model.named_parameters(), t_model.named_parameters()):
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-4, atol=1e-6, err_msg=k)


def test_gpt2_reorder_and_upcast_attn(float32_defaults):
    """_upcast_and_reordered_attn: torch.empty + baddbmm(beta=0, alpha=1/sqrt(d)) (the uninitialized buffer must
    be ignored), under autocast(enabled=False), then the float32 softmax check; with a padding mask."""
    t_model, m_model = _gpt2_pair(seed=7, reorder_and_upcast_attn=True, scale_attn_by_inverse_layer_idx=True)
    res = []
    mask = np.ones((2, 6), dtype=np.int64)
    mask[0, :2] = 0
    for lib, model in ((torch, t_model), (mg, m_model)):
        ids = _ids(lib, (2, 6), GV, 5)
        loss, logits = model(ids, attention_mask=lib.tensor(mask), labels=ids)[:2]
        loss.backward()
        res.append((loss, logits))
    _close("upcast loss", res[1][0], res[0][0], **TOL32)
    _close("upcast logits", res[1][1], res[0][1], **TOL32)
    for (k, p), (_, q) in zip(m_model.named_parameters(), t_model.named_parameters()):
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-4, atol=1e-6, err_msg=k)
    # beta=0 ignores whatever the preallocated buffer holds (NaN included), value and gradient
    a = mg.randn(2, 3, 4, dtype=mg.float32, requires_grad=True)
    b = mg.randn(2, 4, 5, dtype=mg.float32)
    buf = mg.full((2, 3, 5), float("nan"), dtype=mg.float32, requires_grad=True)
    y = mg.baddbmm(buf, a, b, beta=0, alpha=0.5)
    y.sum().backward()
    assert not np.isnan(_np(y)).any() and not np.isnan(_np(a.grad)).any()
    np.testing.assert_allclose(_np(y), 0.5 * (_np(a) @ _np(b)), rtol=1e-6)


def test_apply_chunking_to_forward():
    """HF's feed-forward chunking: input.chunk(n, dim=1), the layer per chunk, torch.cat back; same as unchunked."""
    def apply_chunking_to_forward(torch, forward_fn, chunk_size, chunk_dim, *input_tensors):
        if chunk_size > 0:
            tensor_shape = input_tensors[0].shape[chunk_dim]
            if input_tensors[0].shape[chunk_dim] % chunk_size != 0:
                raise ValueError(f"The dimension to be chunked {tensor_shape} has to be a multiple of the chunk size "
                                 f"{chunk_size}")
            num_chunks = input_tensors[0].shape[chunk_dim] // chunk_size
            input_tensors_chunks = tuple(t.chunk(num_chunks, dim=chunk_dim) for t in input_tensors)
            output_chunks = tuple(forward_fn(*chunks) for chunks in zip(*input_tensors_chunks))
            return torch.cat(output_chunks, dim=chunk_dim)
        return forward_fn(*input_tensors)

    t_model, m_model = _bert_pair("BertModel")
    x = np.random.default_rng(3).standard_normal((2, 6, BH))
    res = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        layer = model.encoder.layer[0]
        xi = lib.tensor(x, requires_grad=True)
        ff = lambda h: layer.output(layer.intermediate(h), h)  # noqa: E731 - BertLayer.feed_forward_chunk
        y = apply_chunking_to_forward(lib, ff, 2, 1, xi)
        y.pow(2).sum().backward()
        np.testing.assert_allclose(_np(y), _np(ff(xi)), rtol=1e-12, atol=1e-14)
        res.append((y, xi.grad))
    _close("chunked ff", res[1][0], res[0][0])
    _close("chunked ff x.grad", res[1][1], res[0][1])


def test_bert_question_answering_and_multiple_choice_heads():
    """BertForQuestionAnswering's head (split(1, dim=-1), squeeze(-1).contiguous(), positions clamped to
    ignored_index, CrossEntropyLoss(ignore_index=...)) and BertForMultipleChoice's reshapes, on the same BERT."""
    t_model, m_model = _bert_pair("BertModel")
    torch.manual_seed(3)
    t_qa, t_mc = torch.nn.Linear(BH, 2), torch.nn.Linear(BH, 1)
    m_qa, m_mc = mg.nn.Linear(BH, 2), mg.nn.Linear(BH, 1)
    _copy_weights(t_qa, m_qa)
    _copy_weights(t_mc, m_mc)
    res = []
    for lib, model, qa, mc in ((torch, t_model, t_qa, t_mc), (mg, m_model, m_qa, m_mc)):
        ids, mask, tt = _bert_inputs(lib)
        sequence_output = model(ids, attention_mask=mask, token_type_ids=tt)[0]
        logits = qa(sequence_output)
        start_logits, end_logits = logits.split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        start_positions, end_positions = lib.tensor([1, 40, 2]), lib.tensor([3, 4, 40])
        ignored_index = start_logits.size(1)
        start_positions = start_positions.clamp(0, ignored_index)
        end_positions = end_positions.clamp(0, ignored_index)
        loss_fct = lib.nn.CrossEntropyLoss(ignore_index=ignored_index)
        qa_loss = (loss_fct(start_logits, start_positions) + loss_fct(end_logits, end_positions)) / 2
        # multiple choice: (batch, num_choices, seq) flattened through the encoder, logits back to (batch, choices)
        mc_ids = _ids(lib, (2, 3, 4), BV, 9)
        num_choices = mc_ids.shape[1]
        flat = mc_ids.view(-1, mc_ids.size(-1))
        pooled = model(flat)[1]
        reshaped_logits = mc(pooled).view(-1, num_choices)
        mc_loss = lib.nn.CrossEntropyLoss()(reshaped_logits, lib.tensor([2, 0]))
        (qa_loss + mc_loss).backward()
        res.append((qa_loss, start_logits, mc_loss, reshaped_logits, qa.weight.grad, mc.weight.grad))
    for name, a, b in zip(("qa loss", "start_logits", "mc loss", "mc logits", "qa.weight.grad", "mc.weight.grad"),
                          res[1], res[0]):
        _close(name, a, b)
    _same_grads(m_model, t_model)


def test_gpt2_sequence_classification_and_double_heads_pooling():
    """GPT2ForSequenceClassification's last-non-pad pooling (eq(...).int().argmax(-1) - 1, % seq_len, then
    logits[arange(b), sequence_lengths]) and SequenceSummary's cls_index gather (full_like(..., dtype=long),
    unsqueeze/expand, hidden_states.gather(-2, cls_index).squeeze(-2))."""
    t_model, m_model = _gpt2_pair(seed=8)
    torch.manual_seed(4)
    t_score, m_score = torch.nn.Linear(GE, 3, bias=False), mg.nn.Linear(GE, 3, bias=False)
    _copy_weights(t_score, m_score)
    ids_np = np.random.default_rng(6).integers(1, GV, size=(3, 6))
    ids_np[0, 4:] = 0  # pad_token_id = 0, right padding
    ids_np[1, 1:] = 0
    res = []
    for lib, model, score in ((torch, t_model, t_score), (mg, m_model, m_score)):
        input_ids = lib.tensor(ids_np)
        hidden_states = model.transformer(input_ids)[0]
        logits = score(hidden_states)
        batch_size = input_ids.shape[0]
        sequence_lengths = lib.eq(input_ids, 0).int().argmax(-1) - 1
        sequence_lengths = sequence_lengths % input_ids.shape[-1]
        pooled_logits = logits[lib.arange(batch_size, device=logits.device), sequence_lengths]
        loss = lib.nn.CrossEntropyLoss()(pooled_logits.view(-1, 3), lib.tensor([0, 2, 1]))
        # SequenceSummary(summary_type="cls_index") with the default cls_index (the last token)
        cls_index = lib.full_like(hidden_states[..., :1, :], hidden_states.shape[-2] - 1, dtype=lib.long)
        cls_given = lib.tensor([5, 0, 3])  # one index per row, as SequenceSummary is given it
        cls_given = cls_given.unsqueeze(-1).unsqueeze(-1)
        cls_given = cls_given.expand((-1,) * (cls_given.dim() - 1) + (hidden_states.size(-1),))
        summary = hidden_states.gather(-2, cls_index).squeeze(-2) + hidden_states.gather(-2, cls_given).squeeze(-2)
        (loss + summary.pow(2).sum()).backward()
        res.append((sequence_lengths, pooled_logits, loss, summary, score.weight.grad))
    assert _np(res[1][0]).tolist() == [3, 0, 5]
    for name, a, b in zip(("sequence_lengths", "pooled_logits", "loss", "summary", "score.grad"), res[1], res[0]):
        _close(name, a, b)
    _same_grads(m_model, t_model)


def test_generation_logits_processors():
    """generation utils' processors on a batch of scores: repetition penalty (gather, where, scatter_), top-k
    (scores < topk(...)[0][..., -1, None]), top-p (sort descending, softmax().cumsum(), scatter back the removal
    mask, masked_fill with -inf, min_tokens_to_keep), temperature; the same filtered distributions in both."""
    def process(torch, scores, input_ids, penalty=1.3, top_k=4, top_p=0.7, temperature=0.8, min_tokens_to_keep=1):
        filter_value = -float("Inf")
        score = torch.gather(scores, 1, input_ids)
        score = torch.where(score < 0, score * penalty, score / penalty)
        scores = scores.clone()
        scores.scatter_(1, input_ids, score)
        scores = scores / temperature
        top_k = min(max(top_k, min_tokens_to_keep), scores.size(-1))
        indices_to_remove = scores < torch.topk(scores, top_k)[0][..., -1, None]
        scores = scores.masked_fill(indices_to_remove, filter_value)
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        sorted_indices_to_remove = cumulative_probs <= (1 - top_p)
        sorted_indices_to_remove[..., -min_tokens_to_keep:] = 0
        indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
        scores = scores.masked_fill(indices_to_remove, filter_value)
        return scores, torch.nn.functional.softmax(scores, dim=-1)

    rng = np.random.default_rng(12)
    raw = rng.standard_normal((4, GV)) * 2
    prev = rng.integers(0, GV, size=(4, 5))
    got = [process(lib, lib.tensor(raw), lib.tensor(prev)) for lib in (torch, mg)]
    _close("processed scores", got[1][0], got[0][0], rtol=1e-12, atol=0)
    _close("filtered probs", got[1][1], got[0][1])
    kept = np.isfinite(_np(got[1][0])).sum(-1)
    assert np.all((kept >= 1) & (kept <= 4))


def test_gpt2_left_padded_batched_generation_with_cache():
    """generate()'s bookkeeping for a left-padded batch: position_ids = attention_mask.long().cumsum(-1) - 1,
    masked_fill_(attention_mask == 0, 1), the mask grown by one column per step (torch.cat with new_ones), the
    last position only once the cache holds the prefix; greedy tokens and logits as torch's, and the cached
    logits equal the recomputed ones."""
    t_model, m_model = _gpt2_pair(seed=9)
    prompt = np.random.default_rng(2).integers(1, GV, size=(3, 4))
    mask_np = np.ones((3, 4), dtype=np.int64)
    mask_np[1, :2] = 0
    mask_np[2, :1] = 0
    prompt[mask_np == 0] = 0
    out = []
    for lib, model in ((torch, t_model), (mg, m_model)):
        model.eval()
        input_ids, attention_mask = lib.tensor(prompt), lib.tensor(mask_np)
        past, steps = None, []
        with lib.no_grad():
            for _ in range(4):
                position_ids = attention_mask.long().cumsum(-1) - 1
                position_ids.masked_fill_(attention_mask == 0, 1)
                if past is not None:
                    model_input, position_ids = input_ids[:, -1:], position_ids[:, -1].unsqueeze(-1)
                else:
                    model_input = input_ids
                _, logits, past = model(model_input, past_key_values=past, attention_mask=attention_mask,
                                        position_ids=position_ids, use_cache=True)
                next_token_logits = logits[:, -1, :]
                full = model(input_ids, attention_mask=attention_mask,
                             position_ids=(attention_mask.cumsum(-1) - 1).clamp(min=0))[1][:, -1, :]
                np.testing.assert_allclose(_np(next_token_logits), _np(full), rtol=1e-9, atol=1e-12)
                next_tokens = lib.argmax(next_token_logits, dim=-1)
                input_ids = lib.cat([input_ids, next_tokens[:, None]], dim=-1)
                attention_mask = lib.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))],
                                         dim=-1)
                steps.append(next_token_logits)
                assert next_tokens.dtype == lib.int64
        out.append((input_ids, steps))
    np.testing.assert_array_equal(_np(out[1][0]), _np(out[0][0]))
    for i, (a, b) in enumerate(zip(out[1][1], out[0][1])):
        _close(f"step {i} logits", a, b)


def test_parameter_data_assigned_a_tensor_is_refused_at_once():
    """torch's `param.data = new_tensor` (HF's resize and tie helpers): minigrad's `.data` is the raw array
    (documented). On a Parameter the assignment was accepted and failed later inside backward ("Mul.backward
    returned a Tensor"); it is now a TypeError at the assignment, naming both ports, which work."""
    p = mg.nn.Parameter(mg.zeros(3))
    with pytest.raises(TypeError, match=r"Parameter\.data must be a backend array, got Tensor.*p\.copy_\(t\)"):
        p.data = mg.ones(5)
    with pytest.raises(TypeError, match="got list"):
        p.data = [1.0, 2.0]
    assert tuple(p.shape) == (3,) and np.all(_np(p) == 0)
    new = mg.nn.functional.pad(p.detach() + 1.0, (0, 2), "constant", 0.0)
    p.data = new.data  # the port: the new array (shape may change, as torch's)
    assert tuple(p.shape) == (5,) and p.requires_grad
    (p * p).sum().backward()
    _close("grad after .data swap", p.grad, torch.tensor([2.0, 2.0, 2.0, 0.0, 0.0]))

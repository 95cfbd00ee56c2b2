"""Porting audit: the official PyTorch "Chatbot Tutorial" (Luong-attention seq2seq on a conversational
corpus), run in torch and in minigrad, compared.

The program is written ONCE, as the tutorial writes it (from memory, own code), inside a factory
that takes the library as an argument (`L.torch`, `L.nn`, `L.F`, `L.optim`), so porting is exactly
"change the imports" (`nn.GRU` resolves to `models.GRU`). A tiny generated corpus replaces the
Cornell movie-dialogs download. Pieces ported:
* text: unicodeToAscii / normalizeString, `Voc` (addSentence, addWord, trim with min_count),
  filterPairs on MAX_LENGTH, trimRareWords;
* batches: indexesFromSentence, zeroPadding (itertools.zip_longest), binaryMatrix, inputVar (padded
  LongTensor + lengths tensor), outputVar (max_target_len and a BoolTensor mask), batch2TrainData
  (pairs sorted by input length, longest first, for pack_padded_sequence's enforce_sorted);
* EncoderRNN: a shared nn.Embedding, bidirectional 2-layer nn.GRU over pack_padded_sequence (lengths
  on the CPU), pad_packed_sequence, the two directions' outputs summed;
* Attn with the 'dot', 'general' and 'concat' scores (`hidden.expand`, a `v` Parameter made with
  `torch.FloatTensor(hidden_size)`), `.t()`, softmax over the time dim, unsqueeze(1);
* LuongAttnDecoderRNN: one GRU step, `attn_weights.bmm(encoder_outputs.transpose(0, 1))`, the
  concat layer with tanh, softmax output;
* maskNLLLoss (gather, -log, masked_select, mean, `mask.sum()` -> `nTotal.item()`);
* train(): `loss = 0; loss += mask_loss`, teacher forcing decided by `random.random()` (a shared
  seeded `random.Random`, so both libraries take the same branches; both branches are taken), the
  decoder's first hidden `encoder_hidden[:decoder.n_layers]`, `topk(1)` and
  `torch.LongTensor([[topi[i][0] for i in range(batch_size)]])` for the next input,
  clip_grad_norm_ on both models, two Adam optimizers;
* GreedySearchDecoder (`torch.ones(1, 1, device=, dtype=torch.long) * SOS_token`, `torch.zeros([0],
  ...)`, `torch.max(decoder_output, dim=1)`, torch.cat of tokens and scores) and evaluate();
* the checkpoint dict (`'en'`, `'de'`, `'en_opt'`, `'de_opt'`, `'loss'`, `'voc_dict': voc.__dict__`,
  `'embedding'`) through save/load, restored into fresh models, training resumed.

Compared in float64 (rtol 1e-7): the loss of every iteration, the (clipped) gradients of every
parameter after every iteration, the parameters after training, greedy decoded ids, scores and
words. The float32 program as written also runs; everything stays float32 (float32 tolerances).
Dropout: the parity runs train with dropout=0 (2-layer GRUs, so the inter-layer path is built);
a dropout=0.1 model in eval() mode is compared separately.

Found while porting (fixed; focused tests at the end):
* `torch.LongTensor([[topi[i][0] ...]])` with FLOAT 0-d tensors in the list (e.g. scores passed by
  mistake): torch refuses ("only integer tensors of a single element can be converted to an index"),
  minigrad truncated them silently. `mg.tensor(list, dtype=<int/bool>)`, `mg.as_tensor` and the legacy
  `LongTensor`/`IntTensor`/`BoolTensor`/... constructors now raise the same TypeError.
* `nn.Dropout` had no `inplace` argument (`nn.Dropout(p, inplace=False)` was a TypeError) and printed
  `Dropout(p=0.1)` where torch prints `Dropout(p=0.1, inplace=False)` (the tutorial prints its
  models); `F.dropout` lacked torch's fourth argument `inplace`. Both added (in place = recorded
  like every in-place op), and the repr is torch's.

Porting notes (intended differences, README):
* The tutorial's `self.v = nn.Parameter(torch.FloatTensor(hidden_size))` is float32 even when the
  default dtype is float64, and torch promotes `self.v * energy` to float64; minigrad refuses to mix
  float32 and float64 (a clear TypeError naming the op). The float64 runs therefore call
  `.double()` on the modules after building them (as a torch user making a float64 model does).
  For the same reason a `.double()` model with the float32 default dtype fails in GreedySearchDecoder's
  `torch.cat((all_scores, decoder_scores))` (`torch.zeros([0])` is float32): set the default dtype.
* pack_padded_sequence with a length above the padded length T is refused (torch packs it silently).
* The tutorial's loop moving optimizer state to CUDA (`if isinstance(v, torch.Tensor): state[k] =
  v.cuda()`) does nothing here (the state holds backend arrays); `optimizer.load_state_dict` already
  puts the state on the parameters' device. Not run: no GPU in this test.
"""
import io
import itertools
import random
import re
import unicodedata
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as mF
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-10)
TOL32 = dict(rtol=2e-4, atol=2e-5)

TH = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim, name="torch")
MG = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim, name="minigrad")

PAD_token, SOS_token, EOS_token = 0, 1, 2
MAX_LENGTH = 6       # longest sentence kept (in words)
MIN_COUNT = 2        # trimming threshold
HIDDEN = 6
N_LAYERS = 2
BATCH = 4
CLIP = 1.0           # small, so clip_grad_norm_ really rescales
TEACHER_FORCING_RATIO = 0.5


@pytest.fixture
def float64_default():
    """Both libraries build float64 tensors by default (torch.set_default_dtype, mg.set_default_dtype)."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


_np = to_numpy
_close = closer(TOL)


# =====================================================================================
# A tiny generated corpus (the tutorial reads Cornell movie-dialogs; no downloads here)
# =====================================================================================
_WORDS = ["hi", "hello", "how", "are", "you", "i", "am", "fine", "what", "is", "your", "name",
          "my", "bob", "good", "bye", "see", "later", "ok", "thanks"]


def _raw_pairs(n=40, seed=0):
    """Query/response lines with capitals, accents and punctuation, as movie lines have."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        q = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))
        r = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))
        pairs.append([q.capitalize() + rng.choice(["?", "!", ".", " ..."]), r + rng.choice([".", "!"])])
    pairs.append(["Café   zebra!", "hello ."])                     # accents; a word seen once
    pairs.append(["you are a very very long sentence indeed ok", "ok"])   # filtered out (too long)
    return pairs


# =====================================================================================
# The program, written once, as the tutorial does
# =====================================================================================
def make_chatbot(L, teacher_forcing_ratio=TEACHER_FORCING_RATIO):
    torch, nn, F = L.torch, L.nn, L.F
    USE_CUDA = torch.cuda.is_available() and False  # the parity runs stay on the CPU (torch is CPU-only here)
    device = torch.device("cuda" if USE_CUDA else "cpu")

    class Voc:
        def __init__(self, name):
            self.name = name
            self.trimmed = False
            self.word2index = {}
            self.word2count = {}
            self.index2word = {PAD_token: "PAD", SOS_token: "SOS", EOS_token: "EOS"}
            self.num_words = 3  # count SOS, EOS, PAD

        def addSentence(self, sentence):
            for word in sentence.split(" "):
                self.addWord(word)

        def addWord(self, word):
            if word not in self.word2index:
                self.word2index[word] = self.num_words
                self.word2count[word] = 1
                self.index2word[self.num_words] = word
                self.num_words += 1
            else:
                self.word2count[word] += 1

        # Remove words below a certain count threshold
        def trim(self, min_count):
            if self.trimmed:
                return
            self.trimmed = True
            keep_words = [k for k, v in self.word2count.items() if v >= min_count]
            # Reinitialize dictionaries
            self.word2index = {}
            self.word2count = {}
            self.index2word = {PAD_token: "PAD", SOS_token: "SOS", EOS_token: "EOS"}
            self.num_words = 3
            for word in keep_words:
                self.addWord(word)

    def unicodeToAscii(s):
        return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")

    def normalizeString(s):
        s = unicodeToAscii(s.lower().strip())
        s = re.sub(r"([.!?])", r" \1", s)
        s = re.sub(r"[^a-zA-Z.!?]+", r" ", s)
        s = re.sub(r"\s+", r" ", s).strip()
        return s

    def filterPair(p):
        return len(p[0].split(" ")) < MAX_LENGTH and len(p[1].split(" ")) < MAX_LENGTH

    def loadPrepareData(raw_pairs):
        voc = Voc("tiny")
        pairs = [[normalizeString(s) for s in pair] for pair in raw_pairs]
        pairs = [pair for pair in pairs if filterPair(pair)]
        for pair in pairs:
            voc.addSentence(pair[0])
            voc.addSentence(pair[1])
        return voc, pairs

    def trimRareWords(voc, pairs, min_count):
        voc.trim(min_count)
        keep_pairs = []
        for pair in pairs:
            keep = all(word in voc.word2index for s in pair for word in s.split(" "))
            if keep:
                keep_pairs.append(pair)
        return keep_pairs

    def indexesFromSentence(voc, sentence):
        return [voc.word2index[word] for word in sentence.split(" ")] + [EOS_token]

    def zeroPadding(l, fillvalue=PAD_token):
        return list(itertools.zip_longest(*l, fillvalue=fillvalue))

    def binaryMatrix(l, value=PAD_token):
        m = []
        for i, seq in enumerate(l):
            m.append([])
            for token in seq:
                if token == PAD_token:
                    m[i].append(0)
                else:
                    m[i].append(1)
        return m

    # Returns padded input sequence tensor and lengths
    def inputVar(l, voc):
        indexes_batch = [indexesFromSentence(voc, sentence) for sentence in l]
        lengths = torch.tensor([len(indexes) for indexes in indexes_batch])
        padList = zeroPadding(indexes_batch)
        padVar = torch.LongTensor(padList)
        return padVar, lengths

    # Returns padded target sequence tensor, padding mask, and max target length
    def outputVar(l, voc):
        indexes_batch = [indexesFromSentence(voc, sentence) for sentence in l]
        max_target_len = max([len(indexes) for indexes in indexes_batch])
        padList = zeroPadding(indexes_batch)
        mask = binaryMatrix(padList)
        mask = torch.BoolTensor(mask)
        padVar = torch.LongTensor(padList)
        return padVar, mask, max_target_len

    def batch2TrainData(voc, pair_batch):
        pair_batch.sort(key=lambda x: len(x[0].split(" ")), reverse=True)
        input_batch, output_batch = [], []
        for pair in pair_batch:
            input_batch.append(pair[0])
            output_batch.append(pair[1])
        inp, lengths = inputVar(input_batch, voc)
        output, mask, max_target_len = outputVar(output_batch, voc)
        return inp, lengths, output, mask, max_target_len

    class EncoderRNN(nn.Module):
        def __init__(self, hidden_size, embedding, n_layers=1, dropout=0):
            super().__init__()
            self.n_layers = n_layers
            self.hidden_size = hidden_size
            self.embedding = embedding
            # input_size and hidden_size are both hidden_size: the input is a word embedding
            self.gru = nn.GRU(hidden_size, hidden_size, n_layers,
                              dropout=(0 if n_layers == 1 else dropout), bidirectional=True)

        def forward(self, input_seq, input_lengths, hidden=None):
            embedded = self.embedding(input_seq)
            packed = nn.utils.rnn.pack_padded_sequence(embedded, input_lengths)
            outputs, hidden = self.gru(packed, hidden)
            outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs)
            # Sum bidirectional GRU outputs
            outputs = outputs[:, :, :self.hidden_size] + outputs[:, :, self.hidden_size:]
            return outputs, hidden

    # Luong attention layer
    class Attn(nn.Module):
        def __init__(self, method, hidden_size):
            super().__init__()
            self.method = method
            if self.method not in ["dot", "general", "concat"]:
                raise ValueError(self.method, "is not an appropriate attention method.")
            self.hidden_size = hidden_size
            if self.method == "general":
                self.attn = nn.Linear(self.hidden_size, hidden_size)
            elif self.method == "concat":
                self.attn = nn.Linear(self.hidden_size * 2, hidden_size)
                self.v = nn.Parameter(torch.FloatTensor(hidden_size))

        def dot_score(self, hidden, encoder_output):
            return torch.sum(hidden * encoder_output, dim=2)

        def general_score(self, hidden, encoder_output):
            energy = self.attn(encoder_output)
            return torch.sum(hidden * energy, dim=2)

        def concat_score(self, hidden, encoder_output):
            energy = self.attn(torch.cat((hidden.expand(encoder_output.size(0), -1, -1), encoder_output), 2)).tanh()
            return torch.sum(self.v * energy, dim=2)

        def forward(self, hidden, encoder_outputs):
            if self.method == "general":
                attn_energies = self.general_score(hidden, encoder_outputs)
            elif self.method == "concat":
                attn_energies = self.concat_score(hidden, encoder_outputs)
            elif self.method == "dot":
                attn_energies = self.dot_score(hidden, encoder_outputs)
            # Transpose max_length and batch_size dimensions
            attn_energies = attn_energies.t()
            # Return the softmax normalized probability scores (with added dimension)
            return F.softmax(attn_energies, dim=1).unsqueeze(1)

    class LuongAttnDecoderRNN(nn.Module):
        def __init__(self, attn_model, embedding, hidden_size, output_size, n_layers=1, dropout=0.1):
            super().__init__()
            self.attn_model = attn_model
            self.hidden_size = hidden_size
            self.output_size = output_size
            self.n_layers = n_layers
            self.dropout = dropout
            self.embedding = embedding
            self.embedding_dropout = nn.Dropout(dropout)
            self.gru = nn.GRU(hidden_size, hidden_size, n_layers, dropout=(0 if n_layers == 1 else dropout))
            self.concat = nn.Linear(hidden_size * 2, hidden_size)
            self.out = nn.Linear(hidden_size, output_size)
            self.attn = Attn(attn_model, hidden_size)

        def forward(self, input_step, last_hidden, encoder_outputs):
            # Note: we run this one step (word) at a time
            embedded = self.embedding(input_step)
            embedded = self.embedding_dropout(embedded)
            rnn_output, hidden = self.gru(embedded, last_hidden)
            attn_weights = self.attn(rnn_output, encoder_outputs)
            # Multiply attention weights to encoder outputs to get new "weighted sum" context vector
            context = attn_weights.bmm(encoder_outputs.transpose(0, 1))
            # Concatenate weighted context vector and GRU output using Luong eq. 5
            rnn_output = rnn_output.squeeze(0)
            context = context.squeeze(1)
            concat_input = torch.cat((rnn_output, context), 1)
            concat_output = torch.tanh(self.concat(concat_input))
            output = self.out(concat_output)
            output = F.softmax(output, dim=1)
            return output, hidden

    def maskNLLLoss(inp, target, mask):
        nTotal = mask.sum()
        crossEntropy = -torch.log(torch.gather(inp, 1, target.view(-1, 1)).squeeze(1))
        loss = crossEntropy.masked_select(mask).mean()
        loss = loss.to(device)
        return loss, nTotal.item()

    def train(input_variable, lengths, target_variable, mask, max_target_len, encoder, decoder, embedding,
              encoder_optimizer, decoder_optimizer, batch_size, clip, random=random, log=None):
        # Zero gradients
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        # Set device options
        input_variable = input_variable.to(device)
        target_variable = target_variable.to(device)
        mask = mask.to(device)
        # Lengths for RNN packing should always be on the CPU
        lengths = lengths.to("cpu")
        loss = 0
        print_losses = []
        n_totals = 0
        encoder_outputs, encoder_hidden = encoder(input_variable, lengths)
        # Create initial decoder input (start with SOS tokens for each sentence)
        decoder_input = torch.LongTensor([[SOS_token for _ in range(batch_size)]])
        decoder_input = decoder_input.to(device)
        # Set initial decoder hidden state to the encoder's final hidden state
        decoder_hidden = encoder_hidden[:decoder.n_layers]
        use_teacher_forcing = True if random.random() < teacher_forcing_ratio else False
        if log is not None:
            log.append(use_teacher_forcing)
        if use_teacher_forcing:
            for t in range(max_target_len):
                decoder_output, decoder_hidden = decoder(decoder_input, decoder_hidden, encoder_outputs)
                # Teacher forcing: next input is current target
                decoder_input = target_variable[t].view(1, -1)
                mask_loss, nTotal = maskNLLLoss(decoder_output, target_variable[t], mask[t])
                loss += mask_loss
                print_losses.append(mask_loss.item() * nTotal)
                n_totals += nTotal
        else:
            for t in range(max_target_len):
                decoder_output, decoder_hidden = decoder(decoder_input, decoder_hidden, encoder_outputs)
                # No teacher forcing: next input is decoder's own current output
                _, topi = decoder_output.topk(1)
                decoder_input = torch.LongTensor([[topi[i][0] for i in range(batch_size)]])
                decoder_input = decoder_input.to(device)
                mask_loss, nTotal = maskNLLLoss(decoder_output, target_variable[t], mask[t])
                loss += mask_loss
                print_losses.append(mask_loss.item() * nTotal)
                n_totals += nTotal
        loss.backward()
        # Clip gradients: gradients are modified in place
        _ = nn.utils.clip_grad_norm_(encoder.parameters(), clip)
        _ = nn.utils.clip_grad_norm_(decoder.parameters(), clip)
        encoder_optimizer.step()
        decoder_optimizer.step()
        return sum(print_losses) / n_totals

    class GreedySearchDecoder(nn.Module):
        def __init__(self, encoder, decoder):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder

        def forward(self, input_seq, input_length, max_length):
            encoder_outputs, encoder_hidden = self.encoder(input_seq, input_length)
            decoder_hidden = encoder_hidden[:self.decoder.n_layers]
            decoder_input = torch.ones(1, 1, device=device, dtype=torch.long) * SOS_token
            all_tokens = torch.zeros([0], device=device, dtype=torch.long)
            all_scores = torch.zeros([0], device=device)
            for _ in range(max_length):
                decoder_output, decoder_hidden = self.decoder(decoder_input, decoder_hidden, encoder_outputs)
                # Most likely word token and its softmax score
                decoder_scores, decoder_input = torch.max(decoder_output, dim=1)
                all_tokens = torch.cat((all_tokens, decoder_input), dim=0)
                all_scores = torch.cat((all_scores, decoder_scores), dim=0)
                # Prepare current token to be next decoder input (add a dimension)
                decoder_input = torch.unsqueeze(decoder_input, 0)
            return all_tokens, all_scores

    def evaluate(encoder, decoder, searcher, voc, sentence, max_length=MAX_LENGTH):
        indexes_batch = [indexesFromSentence(voc, sentence)]
        lengths = torch.tensor([len(indexes) for indexes in indexes_batch])
        # Transpose dimensions of batch to match models' expectations
        input_batch = torch.LongTensor(indexes_batch).transpose(0, 1)
        input_batch = input_batch.to(device)
        lengths = lengths.to("cpu")
        tokens, scores = searcher(input_batch, lengths, max_length)
        decoded_words = [voc.index2word[token.item()] for token in tokens]
        return decoded_words, tokens, scores

    return SimpleNamespace(**{k: v for k, v in locals().items() if not k.startswith("_")})


# =====================================================================================
# Running it
# =====================================================================================
def _prepared(L):
    P = make_chatbot(L)
    voc, pairs = P.loadPrepareData(_raw_pairs())
    pairs = P.trimRareWords(voc, pairs, MIN_COUNT)
    return P, voc, pairs


def _batches(P, voc, pairs, n_iteration, seed=3):
    rng = random.Random(seed)  # the tutorial's [random.choice(pairs) ...], one stream for both runs
    return [P.batch2TrainData(voc, [rng.choice(pairs) for _ in range(BATCH)]) for _ in range(n_iteration)]


def _build(L, voc, attn_model, init=None, dropout=0.0, to_double=False):
    """The tutorial's model setup; `init` (torch modules) gives the starting weights."""
    P = make_chatbot(L)
    embedding = L.nn.Embedding(voc.num_words, HIDDEN)
    encoder = P.EncoderRNN(HIDDEN, embedding, N_LAYERS, dropout)
    decoder = P.LuongAttnDecoderRNN(attn_model, embedding, HIDDEN, voc.num_words, N_LAYERS, dropout)
    if to_double:
        encoder, decoder = encoder.double(), decoder.double()
    if init is not None:
        for ours, theirs in zip((embedding, encoder, decoder), init):
            sd = theirs.state_dict()
            assert list(ours.state_dict().keys()) == list(sd.keys())
            if isinstance(ours, torch.nn.Module):
                ours.load_state_dict({k: v.detach().clone() for k, v in sd.items()})
            else:
                ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})
    return P, embedding, encoder, decoder


def _torch_init(voc, attn_model, seed, dropout=0.0, to_double=True):
    torch.manual_seed(seed)
    _, emb, enc, dec = _build(TH, voc, attn_model, dropout=dropout, to_double=to_double)
    with torch.no_grad():
        if attn_model == "concat":  # torch.FloatTensor(n) is uninitialised memory: give v values
            dec.attn.v.uniform_(-0.5, 0.5)
        # Larger GRU / output weights than the defaults, so greedy decoding of the tiny untrained
        # model picks different words along the sequence (a stronger check than one word repeated).
        for p in itertools.chain(enc.gru.parameters(), dec.gru.parameters()):
            p.uniform_(-1.0, 1.0)
        dec.concat.weight.normal_(0.0, 1.5)
        dec.out.weight.normal_(0.0, 2.0)
    return emb, enc, dec


def _grads(*modules):
    out = {}
    for name, m in zip(("enc", "dec"), modules):
        for k, p in m.named_parameters():
            out[f"{name}.{k}"] = None if p.grad is None else _np(p.grad).copy()
    return out


def _greedy(L, P, voc, encoder, decoder):
    """The tutorial's evaluation: eval mode, GreedySearchDecoder, evaluate() on a few inputs."""
    encoder.eval()
    decoder.eval()
    searcher = P.GreedySearchDecoder(encoder, decoder)
    decoded = []
    with L.torch.no_grad():
        for sentence in ["Hi, how are you?", "What is your name?", "bye!"]:
            sentence = P.normalizeString(sentence)
            if all(w in voc.word2index for w in sentence.split(" ")):
                decoded.append(P.evaluate(encoder, decoder, searcher, voc, sentence))
    encoder.train()
    decoder.train()
    return decoded


def _run(L, attn_model, init, n_iteration=4, tf_seed=1, to_double=True, lr=0.01, decoder_lr_ratio=5.0):
    P, voc, pairs = _prepared(L)
    P, embedding, encoder, decoder = _build(L, voc, attn_model, init, to_double=to_double)
    encoder.train()
    decoder.train()
    encoder_optimizer = L.optim.Adam(encoder.parameters(), lr=lr)
    decoder_optimizer = L.optim.Adam(decoder.parameters(), lr=lr * decoder_lr_ratio)
    batches = _batches(P, voc, pairs, n_iteration)
    decoded_untrained = _greedy(L, P, voc, encoder, decoder)  # varied tokens before training
    tf_rng = random.Random(tf_seed)
    losses, grads, branches = [], [], []
    for it in range(n_iteration):
        input_variable, lengths, target_variable, mask, max_target_len = batches[it]
        loss = P.train(input_variable, lengths, target_variable, mask, max_target_len, encoder, decoder,
                       embedding, encoder_optimizer, decoder_optimizer, BATCH, CLIP, random=tf_rng, log=branches)
        losses.append(loss)
        grads.append(_grads(encoder, decoder))
    decoded = decoded_untrained + _greedy(L, P, voc, encoder, decoder)
    return SimpleNamespace(P=P, voc=voc, pairs=pairs, batches=batches, embedding=embedding, encoder=encoder,
                           decoder=decoder, losses=losses, grads=grads, branches=branches, decoded=decoded,
                           enc_opt=encoder_optimizer, dec_opt=decoder_optimizer)


def _compare_runs(m, t, tol):
    assert m.branches == t.branches
    assert set(t.branches) == {True, False}, "both teacher-forcing branches must be exercised"
    np.testing.assert_allclose(m.losses, t.losses, err_msg="per-iteration losses", **tol)
    assert len(m.grads) == len(t.grads)
    for it, (gm, gt) in enumerate(zip(m.grads, t.grads)):
        assert list(gm) == list(gt)
        for k in gt:
            assert (gm[k] is None) == (gt[k] is None), f"iteration {it} grad {k}"
            _close(f"iteration {it} clipped grad {k}", gm[k], gt[k], **tol)
    for name in ("encoder", "decoder"):
        po, pt = dict(getattr(m, name).named_parameters()), dict(getattr(t, name).named_parameters())
        assert list(po) == list(pt)
        for k in pt:
            _close(f"{name} parameter {k} after training", po[k], pt[k], **tol)
    assert len(m.decoded) == len(t.decoded) >= 4
    assert any(len(set(tokens.tolist())) > 1 for _, tokens, _ in m.decoded)  # not one word repeated
    for (wm, tm, sm), (wt, tt, st) in zip(m.decoded, t.decoded):
        assert tm.dtype == mg.int64 and tuple(tm.shape) == (MAX_LENGTH,)
        assert tm.tolist() == tt.tolist()
        assert wm == wt
        _close("greedy scores", sm, st, **tol)


# =====================================================================================
# Tests
# =====================================================================================
def test_data_preparation_matches_torch():
    (Pt, voc_t, pairs_t), (Pm, voc_m, pairs_m) = _prepared(TH), _prepared(MG)
    assert voc_t.__dict__ == voc_m.__dict__ and pairs_t == pairs_m
    assert voc_m.trimmed and "zebra" not in voc_m.word2index and "cafe" not in voc_m.word2index
    assert all(len(s.split(" ")) < MAX_LENGTH for p in pairs_m for s in p)
    for bt, bm in zip(_batches(Pt, voc_t, pairs_t, 3), _batches(Pm, voc_m, pairs_m, 3)):
        inp_t, len_t, out_t, mask_t, mtl_t = bt
        inp_m, len_m, out_m, mask_m, mtl_m = bm
        for what, a, b in [("input", inp_m, inp_t), ("lengths", len_m, len_t), ("target", out_m, out_t),
                           ("mask", mask_m, mask_t)]:
            assert _np(a).dtype == _np(b).dtype, what
            np.testing.assert_array_equal(_np(a), _np(b), err_msg=what)
        assert mask_m.dtype == mg.bool and inp_m.dtype == mg.int64 and len_m.dtype == mg.int64
        assert mtl_m == mtl_t and isinstance(mtl_m, int)
        assert len_m.tolist() == sorted(len_m.tolist(), reverse=True)  # longest first for packing


@pytest.mark.parametrize("attn_model", ["dot", "general", "concat"])
def test_chatbot_training_and_greedy_decoding_match_torch_float64(float64_default, attn_model):
    init = _torch_init(_prepared(TH)[1], attn_model, seed=11)
    t = _run(TH, attn_model, init)
    m = _run(MG, attn_model, init)
    _compare_runs(m, t, TOL)
    for p in itertools.chain(m.encoder.parameters(), m.decoder.parameters()):
        assert p.dtype == mg.float64 and p.grad.dtype == mg.float64
    for g in m.grads:  # clip_grad_norm_ really rescaled the decoder's gradients down to CLIP
        norm = np.sqrt(sum((v ** 2).sum() for k, v in g.items() if k.startswith("dec.")))
        np.testing.assert_allclose(norm, CLIP, rtol=1e-5)


def test_chatbot_float32_as_written_stays_float32():
    """The tutorial's default float32; torch.FloatTensor's v is float32 like everything else."""
    init = _torch_init(_prepared(TH)[1], "concat", seed=12, to_double=False)
    t = _run(TH, "concat", init, to_double=False)
    m = _run(MG, "concat", init, to_double=False)
    for p in itertools.chain(m.encoder.parameters(), m.decoder.parameters()):
        assert p.dtype == mg.float32 and p.grad.dtype == mg.float32
    for _, tokens, scores in m.decoded:
        assert scores.dtype == mg.float32 and tokens.dtype == mg.int64
    assert all(isinstance(x, float) for x in m.losses)
    _compare_runs(m, t, TOL32)


def test_encoder_packed_bidirectional_sum_matches_torch(float64_default):
    """EncoderRNN alone: outputs (T, B, H) with zeros past each length, hidden (2 * n_layers, B, H)."""
    Pt, voc, pairs = _prepared(TH)
    Pm = make_chatbot(MG)
    init = _torch_init(voc, "dot", seed=13)
    inp_t, len_t, *_ = _batches(Pt, voc, pairs, 1)[0]
    outs = {}
    for L, P in ((TH, Pt), (MG, Pm)):
        _, _, enc, _ = _build(L, voc, "dot", init, to_double=True)
        inp = L.torch.tensor(_np(inp_t))
        lengths = L.torch.tensor(_np(len_t))
        o, h = enc(inp, lengths)
        ((o * o).sum() + h.sum()).backward()
        outs[L.name] = (o, h, _grads(enc, enc)["enc.gru.weight_hh_l1_reverse"], enc.embedding.weight.grad)
    (om, hm, gm, em), (ot, ht, gt, et) = outs["minigrad"], outs["torch"]
    _close("encoder outputs", om, ot)
    _close("encoder hidden", hm, ht)
    _close("grad weight_hh_l1_reverse", gm, gt)
    _close("grad embedding", em, et)
    assert tuple(hm.shape) == (2 * N_LAYERS, BATCH, HIDDEN)
    for b, n in enumerate(_np(len_t)):
        assert not _np(om)[n:, b].any()  # padded positions are zero after pad_packed_sequence


def test_luong_decoder_with_dropout_in_eval_matches_torch(float64_default):
    """The tutorial's dropout=0.1 model, evaluated (eval() switches embedding and GRU dropout off)."""
    Pt, voc, pairs = _prepared(TH)
    init = _torch_init(voc, "general", seed=14, dropout=0.1)
    res = {}
    for L in (TH, MG):
        P, emb, enc, dec = _build(L, voc, "general", init, dropout=0.1, to_double=True)
        assert dec.embedding_dropout.p == 0.1 and dec.gru.dropout == 0.1
        res[L.name + " repr"] = repr(enc) + repr(dec)  # the tutorial prints its models
        enc.eval()
        dec.eval()
        searcher = P.GreedySearchDecoder(enc, dec)
        # The tutorial's evaluate() runs without no_grad: the scores carry a graph (torch.max values
        # concatenated onto an empty tensor); backpropagate their sum through both models.
        decoded = [P.evaluate(enc, dec, searcher, voc, s) for s in ("how are you", "hi")]
        (decoded[0][2].sum() + decoded[1][2].sum()).backward()
        res[L.name] = (decoded, _grads(enc, dec))
    assert res["minigrad repr"] == res["torch repr"]
    (dm, gm), (dt, gt) = res["minigrad"], res["torch"]
    for (wm, tm, sm), (wt, tt, st) in zip(dm, dt):
        assert wm == wt and tm.tolist() == tt.tolist()
        _close("eval scores", sm, st)
    assert list(gm) == list(gt)
    for k in gt:
        _close(f"grad of the greedy scores {k}", gm[k], gt[k])


def test_mask_nll_loss_matches_torch(float64_default):
    rng = np.random.default_rng(0)
    probs = rng.random((5, 7)) + 0.05
    probs /= probs.sum(1, keepdims=True)
    target = rng.integers(0, 7, 5)
    mask = np.array([True, False, True, True, False])
    res = {}
    for L in (TH, MG):
        P = make_chatbot(L)
        inp = L.torch.tensor(probs, requires_grad=True)
        loss, n_total = P.maskNLLLoss(inp, L.torch.tensor(target), L.torch.tensor(mask))
        loss.backward()
        res[L.name] = (loss, n_total, inp.grad)
    (lm, nm, gm), (lt, nt, gt) = res["minigrad"], res["torch"]
    assert nm == nt == 3 and type(nm) is int
    _close("maskNLLLoss", lm, lt)
    _close("maskNLLLoss grad", gm, gt)


def test_checkpoint_dict_save_load_and_resume(float64_default, tmp_path):
    """The tutorial's checkpoint: save, load into fresh models, and go on training exactly as before."""
    init = _torch_init(_prepared(TH)[1], "dot", seed=15)
    full_t = _run(TH, "dot", init, n_iteration=4)
    m = _run(MG, "dot", init, n_iteration=3)
    path = tmp_path / "3_checkpoint.tar"
    mg.save({
        "iteration": 3,
        "en": m.encoder.state_dict(),
        "de": m.decoder.state_dict(),
        "en_opt": m.enc_opt.state_dict(),
        "de_opt": m.dec_opt.state_dict(),
        "loss": m.losses[-1],
        "voc_dict": m.voc.__dict__,
        "embedding": m.embedding.state_dict(),
    }, path)

    # A new session: load the checkpoint, rebuild everything from it.
    checkpoint = mg.load(path)
    encoder_sd, decoder_sd = checkpoint["en"], checkpoint["de"]
    encoder_optimizer_sd, decoder_optimizer_sd = checkpoint["en_opt"], checkpoint["de_opt"]
    embedding_sd = checkpoint["embedding"]
    P = make_chatbot(MG)
    voc = P.Voc("tiny")
    voc.__dict__ = checkpoint["voc_dict"]
    assert voc.__dict__ == m.voc.__dict__
    assert all(type(k) is int for k in voc.index2word)  # int keys survive (index2word[token.item()])
    assert checkpoint["iteration"] == 3 and checkpoint["loss"] == m.losses[-1]
    embedding = mg.nn.Embedding(voc.num_words, HIDDEN)
    embedding.load_state_dict(embedding_sd)
    encoder = P.EncoderRNN(HIDDEN, embedding, N_LAYERS, 0.0)
    decoder = P.LuongAttnDecoderRNN("dot", embedding, HIDDEN, voc.num_words, N_LAYERS, 0.0)
    encoder.load_state_dict(encoder_sd)
    decoder.load_state_dict(decoder_sd)
    assert encoder.embedding is decoder.embedding  # still shared after loading
    encoder_optimizer = mg.optim.Adam(encoder.parameters(), lr=0.01)
    decoder_optimizer = mg.optim.Adam(decoder.parameters(), lr=0.05)
    encoder_optimizer.load_state_dict(encoder_optimizer_sd)
    decoder_optimizer.load_state_dict(decoder_optimizer_sd)
    for k, v in m.encoder.state_dict().items():
        np.testing.assert_array_equal(_np(encoder.state_dict()[k]), _np(v), err_msg=k)

    # Resume: iteration 4 (same batch, same teacher-forcing draw) must equal torch's uninterrupted run.
    tf_rng = random.Random(1)
    for _ in range(3):
        tf_rng.random()
    encoder.train()
    decoder.train()
    batch = _batches(P, voc, m.pairs, 4)[3]
    loss = P.train(*batch, encoder, decoder, embedding, encoder_optimizer, decoder_optimizer, BATCH, CLIP,
                   random=tf_rng)
    np.testing.assert_allclose(loss, full_t.losses[3], **TOL)
    for name, ours in (("encoder", encoder), ("decoder", decoder)):
        theirs = dict(getattr(full_t, name).named_parameters())
        for k, p in ours.named_parameters():
            _close(f"resumed {name} {k}", p, theirs[k])

    # evaluate() on the restored vocabulary: index2word[token.item()] works.
    encoder.eval()
    decoder.eval()
    searcher = P.GreedySearchDecoder(encoder, decoder)
    with mg.no_grad():
        words, tokens, _ = P.evaluate(encoder, decoder, searcher, voc, "how are you")
    assert words == [voc.index2word[i] for i in tokens.tolist()]

    # The same dict through a file object (torch.save(obj, buffer) form).
    buf = io.BytesIO()
    mg.save({"voc_dict": voc.__dict__, "en_opt": encoder_optimizer.state_dict()}, buf)
    buf.seek(0)
    again = mg.load(buf)
    assert again["voc_dict"] == voc.__dict__
    assert again["en_opt"]["param_groups"] == encoder_optimizer.state_dict()["param_groups"]


def test_float32_v_parameter_in_float64_model_is_a_clear_error(float64_default):
    """Documented difference: `torch.FloatTensor(hidden_size)` makes a float32 `v` in a float64 model;
    torch promotes `v * energy` to float64, minigrad refuses the mix with a TypeError naming the op."""
    Pm, voc, _ = _prepared(MG)
    attn = Pm.Attn("concat", HIDDEN)
    assert attn.v.dtype == mg.float32 and attn.attn.weight.dtype == mg.float64
    hidden, enc_out = mg.randn(1, 2, HIDDEN), mg.randn(3, 2, HIDDEN)
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        attn(hidden, enc_out)
    attn.double()  # the port: make the whole model float64
    assert tuple(attn(hidden, enc_out).shape) == (2, 1, 3)


# =====================================================================================
# Gaps found while porting (each fixed in minigrad; focused tests)
# =====================================================================================
def test_long_tensor_from_list_of_index_tensors_refuses_float_tensors():
    """train()'s `torch.LongTensor([[topi[i][0] for i in range(batch_size)]])`: integer 0-d tensors in a
    list are indices; torch refuses float ones (a score passed by mistake) where minigrad truncated them."""
    topi = mg.tensor([[3], [0], [5]])
    assert mg.LongTensor([[topi[i][0] for i in range(3)]]).tolist() == [[3, 0, 5]]
    scores = mg.tensor([[0.7], [0.2]])
    for make in (lambda L, s: L.LongTensor([[s[i][0] for i in range(2)]]),
                 lambda L, s: L.tensor([s[0][0]], dtype=L.int32),
                 lambda L, s: L.as_tensor([[s[1][0]]], dtype=L.long),
                 lambda L, s: L.BoolTensor([s[0][0]])):
        with pytest.raises(TypeError, match="index"):
            make(torch, torch.tensor([[0.7], [0.2]]))
        with pytest.raises(TypeError, match="float32 tensor inside a list.*index"):
            make(mg, scores)
    # what torch allows stays allowed: bool/int tensors into integer dtypes, float tensors into floats
    for L in (torch, mg):
        assert L.tensor([L.tensor(True), L.tensor(4)], dtype=L.int32).tolist() == [1, 4]
        assert L.BoolTensor([L.tensor(2), L.tensor(0)]).tolist() == [True, False]
        assert L.tensor([L.tensor(1.5)], dtype=L.float64).tolist() == [1.5]
        assert L.LongTensor([1.7, -1.5]).tolist() == [1, -1]  # plain Python floats truncate, as torch


def test_dropout_inplace_argument_and_repr_as_torch():
    """The tutorial prints its models: nn.Dropout's repr is torch's `Dropout(p=0.1, inplace=False)`;
    `nn.Dropout(p, inplace=True)` and `F.dropout(x, p, training, inplace)` (torch's signature) were
    missing."""
    for args in [(0.1,), (0.3, True), ()]:
        assert repr(mg.nn.Dropout(*args)) == repr(torch.nn.Dropout(*args))
    mg.manual_seed(0)
    w = mg.randn(40, 30, dtype=mg.float64, requires_grad=True)
    y = w * 2.0
    drop = mg.nn.Dropout(0.25, inplace=True)
    z = drop(y)
    assert z is y  # written into y, recorded in the graph
    z.sum().backward()
    kept = z.detach().numpy() != 0
    assert 0.15 < 1 - kept.mean() < 0.35
    np.testing.assert_allclose(w.grad.numpy(), np.where(kept, 2.0 / 0.75, 0.0), rtol=1e-12)
    np.testing.assert_allclose(z.detach().numpy()[kept], 2.0 * w.detach().numpy()[kept] / 0.75, rtol=1e-12)
    for L in (torch, mg):  # a leaf that requires grad: refused, as every in-place op
        with pytest.raises(RuntimeError, match="leaf"):
            L.nn.Dropout(0.5, inplace=True)(L.ones(3, requires_grad=True))
    x = mg.randn(4)
    drop.eval()
    assert drop(x) is x and mF.dropout(x, 0.5, False, True) is x
    with mg.no_grad():
        x = mg.ones(1000)
        assert mF.dropout(x, 0.5, True, True) is x and set(np.unique(x.numpy())) <= {0.0, 2.0}
        assert mF.dropout(x, 1.0, True, inplace=True) is x and not x.numpy().any()

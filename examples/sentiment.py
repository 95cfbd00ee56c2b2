"""Many-to-one: read a short review word by word, then say whether it is positive or negative.

The reviews come from a small generator where word ORDER decides the answer:

    "this phone is good"                   positive   (plain)
    "this phone is not good"               negative   (negation flips the adjective)
    "the food is not bad at all"           positive
    "this phone is no good"                negative   (same words as the next one ...)
    "no , this phone is good"              positive   (... in a different order)
    "the movie is great , not awful"       positive   (same words as the next one ...)
    "the movie is awful , not great"       negative
    "i expected it to be bad but it is good"  positive

Three models, two of them blind to order:

* bag-of-words logistic regression: a weight per word, summed. It cannot represent
  "not" flipping "good" but not "bad" (XOR-like), and for the *order* subset (reviews
  whose exact bag of words also occurs with the opposite label) no order-blind model
  can beat a coin flip: both versions look identical to it;
* averaged word embeddings + an MLP: order-blind but nonlinear, so it can learn
  negation by word co-occurrence -- still a coin flip on the order subset;
* an LSTM (or GRU) reading the words in order, variable lengths handled by
  `lengths=` (each review's final state is taken at its own last word).

Two more order-aware readers to compare with (`--cell`):

* `cnn`: a 1-D convolution over windows of three words (a learned trigram detector),
  max-pooled over the review: it sees order only inside each window;
* `attention`: one self-attention layer (`nn.MultiheadAttention`) over word + position
  embeddings, padding masked with `key_padding_mask`, then the mean over the words.

    python examples/sentiment.py                # ~7 seconds on a laptop CPU
    python examples/sentiment.py --cell gru --hidden 32
    python examples/sentiment.py --cell cnn     # or --cell attention
"""
from __future__ import annotations

import os
import random
import time

import _common  # noqa: F401  (first: repository root on sys.path, single-threaded BLAS)
from _common import Progress, Reporter, make_parser, parse_args_with_smoke, save_plot, set_seed

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
import models  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.data import DataLoader, Vocab, pad_sequences  # noqa: E402

# ================================================================ 1. the data
SUBJECTS = ["this phone", "the movie", "the food", "this book", "the service", "the hotel", "this game",
            "the camera", "the plot", "the screen", "the battery", "this album"]
POS = ["good", "great", "excellent", "nice", "fine", "wonderful", "amazing", "solid"]
NEG = ["bad", "awful", "terrible", "poor", "boring", "horrible", "weak", "disappointing"]
INTENS = ["very", "really", "so", "quite", "truly", "extremely"]
PREFIX = ["honestly ,", "overall ,", "i think", "to be fair ,", "in my opinion ,", "after a week ,", "well ,"]
SUFFIX = ["for the price", "in the end", "this time", "so far"]


def _opt(rng, items, p):
    """A random item followed by a space, with probability p (else nothing)."""
    return rng.choice(items) + " " if rng.random() < p else ""


def _adj(rng, positive):
    return rng.choice(POS if positive else NEG)


def make_review(rng: random.Random):
    """(text, label 1=positive/0=negative, group) for one random review.

    group: "plain" (the adjective decides), "negation" (a negation flips it) or
    "order" (the same bag of words exists with the opposite label; only the order tells).
    """
    s = rng.choice(SUBJECTS)
    pre, suf = _opt(rng, PREFIX, 0.3), " " + rng.choice(SUFFIX) if rng.random() < 0.2 else ""
    pos = rng.random() < 0.5  # the label, chosen first so the classes are balanced
    kind = rng.choices(["plain", "negation", "order"], weights=[4, 3, 3])[0]
    if kind == "plain":
        return f"{pre}{s} is {_opt(rng, INTENS, 0.4)}{_adj(rng, pos)}{suf}", int(pos), kind
    if kind == "negation":
        form = rng.randrange(3)
        if form == 0:    # "is not good" (negative) / "is not bad" (positive)
            return f"{pre}{s} is not {_adj(rng, not pos)}{suf}", int(pos), kind
        if form == 1:    # "never disappointing" (positive)
            return f"{pre}{s} is never {_adj(rng, not pos)}{suf}", int(pos), kind
        return f"{pre}{s} is not {_adj(rng, not pos)} at all", int(pos), kind
    # order: every template below has a twin with the same words and the opposite label
    a_true, a_false = _adj(rng, pos), _adj(rng, not pos)
    form = rng.randrange(5)
    if form == 0:        # "is great , not awful" vs "is awful , not great"
        return f"{pre}{s} is {a_true} , not {a_false}", int(pos), kind
    if form == 1:        # the last clause wins after "but"
        return f"i expected it to be {a_false} but {s} is {a_true}", int(pos), kind
    if form == 2:        # "was bad at first but now it is good"
        return f"{s} was {a_false} at first but now it is {a_true}", int(pos), kind
    if form == 3:        # "is not awful , it is great"
        return f"{pre}{s} is not {a_false} , it is {a_true}", int(pos), kind
    # "this phone is no good" (negative) vs "no , this phone is good" (positive)
    return (f"no , {s} is good" if pos else f"{s} is no good"), int(pos), kind


def tokenize(text: str) -> list:
    """Lower-case words; punctuation is dropped, so "no , X is good" and "X is no good" share a bag."""
    return [w for w in text.lower().split() if w.isalpha()]


def make_dataset(n: int, seed: int, exclude=frozenset()):
    """n distinct reviews (none of them in `exclude`): list of (tokens, label, group)."""
    rng = random.Random(seed)
    seen, out = set(exclude), []
    tries = 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        text, label, group = make_review(rng)
        toks = tokenize(text)
        key = " ".join(toks)
        if key in seen:
            continue
        seen.add(key)
        out.append((toks, label, group))
    return out


# ================================================================ 2. the models
class BagOfWords(nn.Module):
    """Logistic regression on word counts: logit = sum over words of w[word] + b. Order-blind, linear."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.linear = nn.Linear(vocab_size, 2)
        self.vocab_size = vocab_size

    def forward(self, ids, lengths):
        counts = bag_of_words(ids, lengths, self.vocab_size, ids.device)
        return self.linear(counts)


def bag_of_words(ids, lengths, vocab_size, device):
    """(B, V) word counts of each padded review (host-side feature extraction)."""
    ids_h, lens = ids.numpy(), lengths.numpy()
    counts = np.zeros((ids_h.shape[0], vocab_size), dtype=np.float32)
    for b in range(ids_h.shape[0]):
        np.add.at(counts[b], ids_h[b, :lens[b]], 1.0)
    return mg.tensor(counts, device=device)


class AveragedEmbeddings(nn.Module):
    """Mean of the word embeddings, then an MLP. Order-blind, but nonlinear ("deep averaging network")."""

    def __init__(self, vocab_size: int, embed: int = 32, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(embed, hidden), nn.Tanh(), nn.Linear(hidden, 2))

    def forward(self, ids, lengths):
        mask = mg.data.lengths_to_mask(lengths, max_len=ids.shape[1]).unsqueeze(-1)  # (B, T, 1)
        e = self.embed(ids) * mask.float()
        mean = e.sum(dim=1) / lengths.float().unsqueeze(-1)
        return self.mlp(mean)


class RecurrentClassifier(nn.Module):
    """Embedding -> LSTM/GRU over the words in order -> the final state -> 2 logits."""

    def __init__(self, vocab_size: int, cell: str = "lstm", embed: int = 32, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.rnn = {"lstm": models.LSTM, "gru": models.GRU, "rnn": models.RNN}[cell](embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, ids, lengths):
        _, state = self.rnn(self.embed(ids), lengths=lengths)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        return self.head(h_n[-1])  # h_n[-1]: each review's state after its own last word


class ConvClassifier(nn.Module):
    """Embedding -> Conv1d over 3-word windows -> ReLU -> max over the words -> 2 logits.

    Each of the `hidden` filters is a learned trigram detector ("not good", "no ,"); the max
    says whether it fired anywhere in the review. Order counts only inside a window.
    """

    def __init__(self, vocab_size: int, embed: int = 32, hidden: int = 64, width: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.conv = nn.Conv1d(embed, hidden, kernel_size=width, padding=width // 2)  # keeps the length
        self.head = nn.Linear(hidden, 2)

    def forward(self, ids, lengths):
        h = self.conv(self.embed(ids).transpose(1, 2)).relu()  # (B, hidden, T): channels first, as torch
        real = mg.data.lengths_to_mask(lengths, max_len=ids.shape[1]).unsqueeze(1)  # (B, 1, T)
        h = mg.where(real, h, 0.0)  # padding never wins the max (ReLU outputs are >= 0 anyway)
        return self.head(h.max(dim=-1).values)


class AttentionClassifier(nn.Module):
    """Word + position embeddings -> self-attention (residual) -> mean over the words -> MLP -> 2 logits.

    Every word looks at every other word of its review, with weights that depend on both the
    words and their positions, so "no , ... good" and "... no good" can be told apart.
    """

    def __init__(self, vocab_size: int, embed: int = 32, hidden: int = 64, max_len: int = 64, heads: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.pos = nn.Embedding(max_len, embed)
        self.attn = nn.MultiheadAttention(embed, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(embed, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, ids, lengths):
        T = ids.shape[1]
        x = self.embed(ids) + self.pos(mg.arange(T, device=ids.device))  # (B, T, E)
        real = mg.data.lengths_to_mask(lengths, max_len=T)  # (B, T), True at words
        h, _ = self.attn(x, x, x, key_padding_mask=~real, need_weights=False)  # True = padding: ignore
        h = h + x
        mean = (h * real.unsqueeze(-1).float()).sum(dim=1) / lengths.float().unsqueeze(-1)
        return self.mlp(mean)


def make_reader(cell: str, vocab_size: int, embed: int, hidden: int, max_len: int) -> nn.Module:
    """The order-aware model named by --cell."""
    if cell == "cnn":
        return ConvClassifier(vocab_size, embed, hidden)
    if cell == "attention":
        return AttentionClassifier(vocab_size, embed, hidden, max_len=max_len)
    return RecurrentClassifier(vocab_size, cell, embed, hidden)


# ================================================================ 3. training and evaluation
def collate(samples, device="cpu"):
    ids, lengths = pad_sequences([s[0] for s in samples], pad_value=0)
    labels = mg.tensor([s[1] for s in samples])
    return ids.to(device), lengths.to(device), labels.to(device)


def encode(data, vocab):
    return [(vocab.encode(toks), label, group) for toks, label, group in data]


def train(model, data, epochs, lr, batch, device, desc, quiet, seed):
    opt = mg.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(data, batch_size=batch, shuffle=True, seed=seed,
                        collate_fn=lambda s: collate(s, device))
    bar = Progress(total=epochs * len(loader), desc=desc, unit="reviews", quiet=quiet)
    for _ in range(epochs):
        for ids, lengths, labels in loader:
            loss = mg.F.cross_entropy(model(ids, lengths), labels)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            bar.update(items=labels.shape[0], loss=loss.item())
    bar.close()
    return model


@mg.no_grad()
def evaluate(model, data, device) -> dict:
    """Accuracy overall and per group ("plain", "negation", "order", and "hard" = negation + order)."""
    model.eval()
    ids, lengths, labels = collate(data, device)
    pred = model(ids, lengths).argmax(dim=-1).numpy()
    model.train()
    right = pred == labels.numpy()
    groups = np.array([g for _, _, g in data])
    acc = {"all": float(right.mean())}
    for g in ("plain", "negation", "order"):
        acc[g] = float(right[groups == g].mean())
    acc["hard"] = float(right[groups != "plain"].mean())
    return acc


def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], default_outdir=os.path.join("runs", "sentiment"))
    p.add_argument("--cell", choices=["lstm", "gru", "rnn", "cnn", "attention"], default="lstm",
                   help="the order-aware model: a recurrent cell, a convolution or self-attention")
    p.add_argument("--hidden", type=int, default=64, help="hidden size (recurrent state, filters, MLP width)")
    p.add_argument("--embed", type=int, default=32, help="word embedding size")
    p.add_argument("--train-size", type=int, default=6000, help="distinct generated training reviews")
    p.add_argument("--test-size", type=int, default=2000, help="test reviews, none of them in the training set")
    p.add_argument("--epochs", type=int, default=12, help="for the order-aware model (--cell)")
    p.add_argument("--bow-epochs", type=int, default=20, help="for the two order-blind models (they are fast)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate of the order-aware model")
    p.add_argument("--bow-lr", type=float, default=1e-2, help="Adam learning rate of the order-blind models")
    return p


SMOKE = dict(train_size=1500, test_size=600, epochs=8, bow_epochs=12, hidden=32, embed=16)


def main(argv=None) -> dict:
    args = parse_args_with_smoke(build_parser(), argv, SMOKE)
    report = Reporter(args)
    set_seed(args.seed)
    t_start, cpu_start = time.perf_counter(), time.process_time()

    train_raw = make_dataset(args.train_size, seed=args.seed)
    test_raw = make_dataset(args.test_size, seed=args.seed + 1, exclude={" ".join(t) for t, _, _ in train_raw})
    vocab = Vocab.build([t for t, _, _ in train_raw], specials={"pad": "<pad>", "unk": "<unk>"})
    train_data, test_data = encode(train_raw, vocab), encode(test_raw, vocab)
    report.say(f"{len(train_data)} training and {len(test_data)} test reviews (no review in both), "
               f"{len(vocab)} words. Examples:")
    for toks, label, group in train_raw[:6]:
        report.say(f"  {'+' if label else '-'} [{group:<8}] {' '.join(toks)}")

    contenders = {
        "bag_of_words": (BagOfWords(len(vocab)), args.bow_epochs, args.bow_lr),
        "avg_embedding_mlp": (AveragedEmbeddings(len(vocab), args.embed, args.hidden), args.bow_epochs, args.bow_lr),
        args.cell: (make_reader(args.cell, len(vocab), args.embed, args.hidden,
                                max_len=max(len(t) for t, _, _ in train_raw + test_raw)), args.epochs, args.lr),
    }
    results = {}
    for name, (model, epochs, lr) in contenders.items():
        model.to(args.device)
        train(model, train_data, epochs, lr, args.batch, args.device, name, args.quiet, args.seed)
        results[name] = evaluate(model, test_data, args.device)

    cols = ["all", "plain", "negation", "order", "hard"]
    report.say("\ntest accuracy    " + "".join(f"{c:>10}" for c in cols))
    for name, acc in results.items():
        report.say(f"{name:<17}" + "".join(f"{acc[c]:>10.3f}" for c in cols))
    report.say("('order': reviews whose bag of words also occurs with the opposite label -- "
               "an order-blind model is at chance there; 'hard' = negation + order)")

    def draw(plt):
        x = np.arange(len(cols))
        w = 0.8 / len(results)
        for i, (name, acc) in enumerate(results.items()):
            plt.bar(x + i * w, [acc[c] for c in cols], w, label=name)
        plt.axhline(0.5, ls="--", c="gray")
        plt.xticks(x + 0.4 - w / 2, cols)
        plt.ylabel("test accuracy")
        plt.ylim(0, 1.05)
        plt.legend()

    plot = save_plot(os.path.join(args.outdir, "accuracy.png"), draw, report)
    metrics = {"cell": args.cell, "plot": plot, "seconds": round(time.perf_counter() - t_start, 2),
               "cpu_seconds": round(time.process_time() - cpu_start, 2)}
    for name, acc in results.items():
        key = "reader" if name == args.cell else name  # reader: the order-aware model of --cell
        for c in cols:
            metrics[f"{key}_{c}"] = acc[c]
    return report.finish(metrics)


if __name__ == "__main__":
    main()

"""Synced many-to-many: tag every word of a sentence, where a word's tag depends on words AFTER it.

A generated named-entity task. Names are drawn from one pool for every entity type, so
a name alone says nothing about its type; the word that closes the entity decides:

    word:  visited  alba   kemp   corp   near   doran  river   with   ilse   vance  jr
    tag:   O        B-ORG  I-ORG  I-ORG  O      B-LOC  I-LOC   O      B-PER  I-PER  I-PER

A left-to-right (unidirectional) LSTM must tag "alba" and "kemp" before it has read "corp":
at every name of an entity it can only guess the type (right one time in three); only the
closing word itself is easy. A bidirectional LSTM runs a second LSTM from right to left and
concatenates both states at every word, so each tag is decided with the whole sentence in view.

    python examples/tagging.py                  # ~6 seconds on a laptop CPU
    python examples/tagging.py --cell gru

To be fair to the unidirectional model it gets twice the hidden size, so both produce
vectors of the same width at each word (and it has more parameters).
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
NAMES = ["alba", "kemp", "doran", "ilse", "vance", "moro", "tessa", "brandt", "okafor", "lund", "peralta", "hale",
         "ridley", "sato", "quinn", "marlow", "varga", "nakamura", "osei", "fenn", "calder", "rowan", "ibsen",
         "lark"]
CLOSERS = {"ORG": ["corp", "inc", "group", "ltd"],        # the word after the names decides the type
           "LOC": ["river", "valley", "island", "county"],
           "PER": ["jr", "sr", "phd", "esq"]}
FILLER = ["the", "report", "about", "yesterday", "visited", "near", "with", "and", "a", "new", "deal", "from",
          "we", "met", "at", "said", "that", "it", "was", "quiet", "in", "spring", "people", "saw", "after",
          "news", "today", "of", "trip", "to"]
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
PAD_TAG = -100  # CrossEntropyLoss's ignore_index: padded positions give no loss


def make_sentence(rng: random.Random):
    """(words, tags): filler words with 1-3 entities (1-3 names + the closing word) inserted."""
    words, tags = [], []
    n_ent = rng.randint(1, 3)
    for _ in range(n_ent):
        for _ in range(rng.randint(1, 3)):
            words.append(rng.choice(FILLER))
            tags.append("O")
        kind = rng.choice(sorted(CLOSERS))
        names = [rng.choice(NAMES) for _ in range(rng.randint(1, 3))]
        words += names + [rng.choice(CLOSERS[kind])]
        tags += [f"B-{kind}"] + [f"I-{kind}"] * len(names)
    for _ in range(rng.randint(0, 2)):
        words.append(rng.choice(FILLER))
        tags.append("O")
    return words, tags


def make_dataset(n: int, seed: int, exclude=frozenset()):
    """n random sentences, none of whose word sequences is in `exclude` (so the test set is unseen)."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        words, tags = make_sentence(rng)
        if " ".join(words) not in exclude:
            out.append((words, tags))
    return out


# ================================================================ 2. the model
class Tagger(nn.Module):
    """Embedding -> (bi)LSTM/GRU -> Linear: one tag distribution per word."""

    def __init__(self, vocab_size, n_tags, cell="lstm", embed=32, hidden=32, bidirectional=True):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        rnn_cls = {"lstm": models.LSTM, "gru": models.GRU, "rnn": models.RNN}[cell]
        self.rnn = rnn_cls(embed, hidden, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_tags)

    def forward(self, ids, lengths):
        out, _ = self.rnn(self.embed(ids), lengths=lengths)  # (B, T, D*H), zeros past each length
        return self.head(out)                                # (B, T, n_tags)


def collate(samples, device="cpu"):
    ids, lengths = pad_sequences([s[0] for s in samples], pad_value=0)
    tags, _ = pad_sequences([s[1] for s in samples], pad_value=PAD_TAG)
    return ids.to(device), lengths.to(device), tags.to(device)


def train(model, data, epochs, lr, batch, device, desc, quiet, seed):
    opt = mg.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD_TAG)
    loader = DataLoader(data, batch_size=batch, shuffle=True, seed=seed, collate_fn=lambda s: collate(s, device))
    bar = Progress(total=epochs * len(loader), desc=desc, unit="tokens", quiet=quiet)
    for _ in range(epochs):
        for ids, lengths, tags in loader:
            loss = loss_fn(model(ids, lengths), tags)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            bar.update(items=int(lengths.numpy().sum()), loss=loss.item())
    bar.close()


@mg.no_grad()
def evaluate(model, data, device) -> dict:
    """Token accuracy (all words), entity-token accuracy (words inside entities) and exact entity matches."""
    model.eval()
    ids, lengths, tags = collate(data, device)
    pred = model(ids, lengths).argmax(dim=-1).numpy()
    model.train()
    gold = tags.numpy()
    real = gold != PAD_TAG
    ent = real & (gold != 0)
    right = pred == gold
    # An entity counts as found when every one of its words has the right tag.
    found = total = 0
    for b in range(gold.shape[0]):
        t = 0
        while t < lengths[b].item():
            if TAGS[gold[b, t]].startswith("B-"):
                end = t + 1
                while end < gold.shape[1] and gold[b, end] != PAD_TAG and TAGS[gold[b, end]].startswith("I-"):
                    end += 1
                total += 1
                found += bool(right[b, t:end].all())
                t = end
            else:
                t += 1
    return {"token_acc": float(right[real].mean()), "entity_token_acc": float(right[ent].mean()),
            "first_name_acc": float(right[np.isin(gold, [1, 3, 5])].mean()),
            "entity_exact": found / max(total, 1)}


def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], default_outdir=os.path.join("runs", "tagging"))
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    p.add_argument("--hidden", type=int, default=32, help="per direction (the unidirectional model gets 2x)")
    p.add_argument("--embed", type=int, default=32, help="word embedding size")
    p.add_argument("--train-size", type=int, default=3000, help="generated training sentences")
    p.add_argument("--test-size", type=int, default=1000, help="generated test sentences")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate")
    return p


SMOKE = dict(train_size=600, test_size=300, epochs=5, hidden=16, embed=16)


def main(argv=None) -> dict:
    args = parse_args_with_smoke(build_parser(), argv, SMOKE)
    report = Reporter(args)
    set_seed(args.seed)
    t_start, cpu_start = time.perf_counter(), time.process_time()

    train_raw = make_dataset(args.train_size, args.seed)
    test_raw = make_dataset(args.test_size, args.seed + 1, exclude={" ".join(w) for w, _ in train_raw})
    vocab = Vocab.build([w for w, _ in train_raw], specials={"pad": "<pad>", "unk": "<unk>"})
    tag_id = {t: i for i, t in enumerate(TAGS)}
    enc = lambda data: [(vocab.encode(w), [tag_id[t] for t in tg]) for w, tg in data]  # noqa: E731
    train_data, test_data = enc(train_raw), enc(test_raw)
    report.say(f"{len(train_data)} training / {len(test_data)} test sentences (none in both), {len(vocab)} words, "
               f"tags {TAGS}")
    for words, tags in train_raw[:2]:
        report.say("  " + " ".join(f"{w}/{t}" for w, t in zip(words, tags)))

    results = {}
    for name, bidir in (("unidirectional", False), ("bidirectional", True)):
        hidden = args.hidden if bidir else 2 * args.hidden  # same output width per word
        model = Tagger(len(vocab), len(TAGS), args.cell, args.embed, hidden, bidir).to(args.device)
        train(model, train_data, args.epochs, args.lr, args.batch, args.device, name[:5] + "-" + args.cell,
              args.quiet, args.seed)
        results[name] = evaluate(model, test_data, args.device)
        results[name]["params"] = model.num_parameters()

    cols = ["token_acc", "entity_token_acc", "first_name_acc", "entity_exact", "params"]
    report.say("\ntest set         " + "".join(f"{c:>18}" for c in cols))
    for name, r in results.items():
        report.say(f"{name:<17}" + "".join(f"{r[c]:>18.3f}" if c != "params" else f"{r[c]:>18,}" for c in cols))
    report.say("(first_name_acc: the first word of each entity (its B- tag); like every name, its type is only "
               "revealed by the closing word after it)")

    def draw(plt):
        x = np.arange(4)
        for i, (name, r) in enumerate(results.items()):
            plt.bar(x + 0.4 * i, [r[c] for c in cols[:4]], 0.4, label=name)
        plt.xticks(x + 0.2, cols[:4])
        plt.ylim(0, 1.05)
        plt.ylabel("test accuracy")
        plt.legend()

    plot = save_plot(os.path.join(args.outdir, "accuracy.png"), draw, report)
    metrics = {"cell": args.cell, "plot": plot, "seconds": round(time.perf_counter() - t_start, 2),
               "cpu_seconds": round(time.process_time() - cpu_start, 2)}
    for name, r in results.items():
        key = "uni" if name == "unidirectional" else "bi"
        for c in cols:
            metrics[f"{key}_{c}"] = r[c]
    return report.finish(metrics)


if __name__ == "__main__":
    main()

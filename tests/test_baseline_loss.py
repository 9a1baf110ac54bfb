"""The visual-text InfoNCE on a hand-made batch: column layout, masking and value checked by hand."""

import torch
import torch.nn.functional as F

from baseline.images import ImageSource
from baseline.negatives import NegativeSampler, draw
from baseline.pairs import LabelSide, Template, TokenTable
from baseline.runtime import Runtime
from baseline.train import visual_loss_fn

E, D = 6, 8


class LookupModel(torch.nn.Module):
    """Label embedding = a fixed row chosen by the label's first token; image embedding = the pixels."""

    def __init__(self, labels: torch.Tensor):
        super().__init__()
        self.labels = labels

    def encode_labels(self, ids, mask):
        return self.labels[ids[:, 1] - 10]

    def encode_images(self, pixels):
        return F.normalize(pixels.float(), dim=-1)

    def logit_scale(self):
        return torch.tensor(10.0)


BERT_LIKE = Template(prefix=(1,), middle=(2,), suffix=(2,), single_prefix=(1,), single_suffix=(2,), pad=0)  # [CLS]=1 [SEP]=2


def _setup(n_negatives: int):
    torch.manual_seed(0)
    labels = F.normalize(torch.randn(E, D), dim=-1)
    table = TokenTable(torch.arange(10, 10 + E).view(E, 1), torch.ones(E, dtype=torch.long))  # entity e -> token 10+e
    images = torch.randn(5, D)
    gold = torch.tensor([0, 0, 1, 2, 3])  # rows 0 and 1: two samples of the same entity
    pools = torch.tensor([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]])  # never the entity itself
    loss = visual_loss_fn(LookupModel(labels), ImageSource(images, torch.arange(5), lambda x: x), LabelSide(table, table.lengths, BERT_LIKE, 8),
                          gold, NegativeSampler(pools, E, n_negatives), Runtime.create("cpu", False, False))
    return labels, images, gold, pools, loss


def _by_hand(labels, images, gold, columns):
    """Mean over rows of −log softmax at the row's own column, over the columns not naming its gold."""
    logits = 10.0 * F.normalize(images, dim=-1) @ labels[columns].T
    terms = []
    for i in range(len(gold)):
        keep = [j for j in range(len(columns)) if j == i or columns[j] != gold[i]]
        row = logits[i, keep]
        terms.append(torch.logsumexp(row, 0) - row[keep.index(i)])
    return torch.stack(terms).mean()


def test_in_batch_loss_masks_a_second_sample_of_the_gold():
    labels, images, gold, _, loss = _setup(0)
    value = loss(torch.arange(5), torch.Generator().manual_seed(0))
    assert torch.allclose(value, _by_hand(labels, images, gold, gold), atol=1e-5)
    # Without the mask, rows 0 and 1 would each count the other's (identical) gold label as a negative.
    logits = 10.0 * F.normalize(images, dim=-1) @ labels[gold].T
    assert not torch.allclose(value, F.cross_entropy(logits, torch.arange(5)), atol=1e-3)


def test_candidate_columns_follow_the_batch_and_never_count_the_gold_as_negative():
    labels, images, gold, pools, loss = _setup(2)
    value = loss(torch.arange(5), torch.Generator().manual_seed(0))
    negatives = draw(gold, pools, 2, 0, E, torch.Generator().manual_seed(0))  # the same draw the loss makes
    assert not (negatives == gold.view(-1, 1)).any()
    columns = torch.cat([gold, negatives.reshape(-1)])
    assert (columns == 0).sum() > 2  # another row's negatives name entity 0, the gold of rows 0 and 1: masked there
    assert torch.allclose(value, _by_hand(labels, images, gold, columns), atol=1e-5)

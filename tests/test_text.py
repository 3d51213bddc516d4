"""The hand-run MiniLM encoder must give what sentence-transformers gives for the same checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from melodex.text import EMBED_DIM, encode_text, model_dir

TEXTS = ["warm synthwave, 100 BPM, F minor, intro 4 bars, verse 8, chorus 8", "a bright plucky guitar", ""]


@pytest.mark.slow
def test_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir()), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    ours = encode_text(TEXTS)
    np.testing.assert_allclose(ours.pooled.numpy(), expected, atol=2e-5)
    tokens = reference.tokenize(TEXTS[:1])
    states = reference[0](tokens)["token_embeddings"].detach().numpy()
    np.testing.assert_allclose(ours.states[0, : states.shape[1]].numpy(), states[0], atol=1e-4)


def test_shapes_mask_and_meaning() -> None:
    out = encode_text(TEXTS)
    assert out.states.shape[0] == 3 and out.states.shape[2] == EMBED_DIM
    assert out.mask[2].sum() == 2  # [CLS] [SEP] for the empty text
    pooled = out.pooled.numpy()
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    near = encode_text(["a bright guitar", "a bright plucky guitar", "slow dark cello drone"]).pooled.numpy()
    assert near[0] @ near[1] > near[0] @ near[2]
    long = encode_text(["word " * 500])
    assert long.states.shape[1] == 64

"""The encoder contract: :class:`Encoder` and :class:`StochasticEncoder`.

The model, the probes, the downstream audit and prediction rely on these attributes only:

* every encoder has int ``in_features`` and ``out_features`` and maps ``x`` ``[B,
  in_features]`` to an :class:`~fairlit.nn.EncoderOutput` (``code`` ``[B, out_features]``,
  ``probs`` ``[B, out_features]`` or ``None``);
* an encoder with a stochastic binary layer is a :class:`StochasticEncoder`: it owns the
  layer (``binary``) and its evaluation-mode output, :attr:`StochasticEncoder.inference`.
  Everything that switches between a sampled, thresholded or probability code asks the
  encoder, never the layer.
"""

from __future__ import annotations

from torch import Tensor, nn

from fairlit.nn.layers import EncoderOutput, Inference, StochasticBinaryLayer, StraightThrough

__all__ = ["Encoder", "StochasticEncoder"]


class Encoder(nn.Module):
    """Base of every fairlit encoder: ``x`` ``[B, in_features]`` -> :class:`EncoderOutput`.

    A subclass sets ``in_features`` and ``out_features`` (ints) in ``__init__`` and
    implements :meth:`forward`. A model built on a plain :class:`torch.nn.Module` with the
    same attributes also works; this base states the contract and gives ``isinstance``.
    """

    in_features: int
    out_features: int

    def forward(self, x: Tensor) -> EncoderOutput:
        """Encode ``x``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")


class StochasticEncoder(Encoder):
    """An encoder whose output layer is a :class:`~fairlit.nn.StochasticBinaryLayer`.

    A subclass builds its body (any network from ``x`` to a ``[B, width]`` feature) and
    calls :meth:`build_binary_layer` with that width; :meth:`forward` is
    ``binary(body(x))``. The layer's evaluation-mode output is the encoder's
    :attr:`inference`.
    """

    binary: StochasticBinaryLayer

    def build_binary_layer(
        self,
        width: int,
        out_features: int,
        temperature: float = 6.0,
        straight_through: StraightThrough = "identity",
        inference: Inference = "sample",
    ) -> None:
        """Create ``self.binary``: ``width`` inputs, ``out_features`` stochastic neurons.

        Raises:
            ValueError: for an invalid size, temperature, estimator or inference mode (see
                :class:`~fairlit.nn.StochasticBinaryLayer`).
        """
        self.binary = StochasticBinaryLayer(
            width,
            out_features,
            temperature=temperature,
            straight_through=straight_through,
            inference=inference,
        )

    @property
    def inference(self) -> Inference:
        """Evaluation-mode output: ``"sample"``, ``"threshold"`` or ``"probability"`` (settable)."""
        return self.binary.inference

    @inference.setter
    def inference(self, value: Inference) -> None:
        self.binary.inference = value

    def body(self, x: Tensor) -> Tensor:
        """The features ``[B, width]`` fed to the stochastic layer."""
        raise NotImplementedError(f"{type(self).__name__} must implement body()")

    def forward(self, x: Tensor, noise: Tensor | None = None) -> EncoderOutput:
        """Encode ``x`` into sampled bits and firing probabilities.

        ``noise`` (``[B, out_features]`` uniform draws) replaces the global generator for the
        sampled bits; see :meth:`~fairlit.nn.StochasticBinaryLayer.forward`.
        """
        return self.binary(self.body(x), noise)

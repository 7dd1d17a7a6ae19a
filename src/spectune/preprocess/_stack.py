"""Stack preprocessing routes as input channels (Shen & Viscarra Rossel 2021)."""

from __future__ import annotations

import numpy as np

from spectune.preprocess._combiner import RouteCombiner

__all__ = ["StackRoutes"]


class StackRoutes(RouteCombiner):
    """Stack the outputs of several routes as channels, for a CNN with several input channels.

    Shen & Viscarra Rossel (2021) feed reflectance, absorbance, ABS+D1, ABS+D2 and ABS+SNV as
    five channels of one 1D-CNN (see ``shen_channels``). ``[n, points]`` gives ``[n, routes,
    points]``; ``[n, channels, points]`` gives ``[n, routes * channels, points]``, route by route.
    Every route must keep the number of points.

    Parameters
    ----------
    routes : list of (str, transformer)
        One channel per named route, e.g. ``[("refl", Identity()), ("abs", Absorbance())]``.

    Attributes
    ----------
    routes_, route_names_
        The fitted route clones and their names (see ``RouteCombiner``).
    channel_names_ : list of str
        One name per output channel: the route names, or ``"{route}/{channel}"`` for 3-D input.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import Absorbance, Identity, StackRoutes
    >>> stack = StackRoutes([("refl", Identity()), ("abs", Absorbance())])
    >>> stack.fit_transform(np.full((4, 10), 0.5)).shape
    (4, 2, 10)
    >>> stack.channel_names_
    ['refl', 'abs']
    """

    def _record_layout(self, outputs: list[np.ndarray]) -> None:
        self._check_aligned(outputs, same_points=True)
        if self.n_channels_in_ is None:
            self.channel_names_ = list(self.route_names_)
        else:
            self.channel_names_ = [
                f"{name}/{channel}"
                for name in self.route_names_
                for channel in range(self.n_channels_in_)
            ]

    def _combine(self, outputs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([self._with_channel_axis(out) for out in outputs], axis=1)

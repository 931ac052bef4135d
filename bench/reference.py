"""A plain implementation of the same method, for the speed comparison in step_speed.py.

Written the way the PyTorch tutorial ("Neural Transfer Using PyTorch") does it:
loss modules inserted after the chosen layers of torchvision's VGG19, the network
cut after the last one, torch.optim.LBFGS, fp32, the default allocator.  Same
layers and weights as this project's VGG19 defaults (content conv4_2, style
conv1_1 ... conv5_1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

CONTENT = {"conv4_2"}
STYLE = {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"}
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.size()
    f = x.view(b * c, h * w)
    return f @ f.t() / (b * c * h * w)


class ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.target = target.detach()
        self.loss = torch.tensor(0.0)

    def forward(self, x):
        self.loss = F.mse_loss(x, self.target)
        return x


class StyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor):
        super().__init__()
        self.target = gram(target_feature).detach()
        self.loss = torch.tensor(0.0)

    def forward(self, x):
        self.loss = F.mse_loss(gram(x), self.target)
        return x


def build(state_dict: dict, content: torch.Tensor, style: torch.Tensor):
    vgg = models.vgg19()
    vgg.load_state_dict(state_dict)
    features = vgg.features.eval()
    for p in features.parameters():
        p.requires_grad_(False)
    model = nn.Sequential()
    content_losses, style_losses = [], []
    block, index = 1, 1
    x_c = (content - MEAN) / STD
    x_s = (style - MEAN) / STD
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            name = f"conv{block}_{index}"
        elif isinstance(layer, nn.ReLU):
            name, layer, index = f"relu{block}_{index}", nn.ReLU(inplace=False), index + 1
        else:
            name, block, index = f"pool{block}", block + 1, 1
        model.add_module(name, layer)
        x_c, x_s = layer(x_c), layer(x_s)
        if name in CONTENT:
            content_losses.append(ContentLoss(x_c))
            model.add_module(f"content_{name}", content_losses[-1])
        if name in STYLE:
            style_losses.append(StyleLoss(x_s))
            model.add_module(f"style_{name}", style_losses[-1])
        if len(content_losses) == len(CONTENT) and len(style_losses) == len(STYLE):
            break
    return model, content_losses, style_losses


def closure_factory(model, content_losses, style_losses, x, optimizer, style_weight=1e6):
    def closure():
        optimizer.zero_grad()
        model((x - MEAN) / STD)
        loss = style_weight * sum(s.loss for s in style_losses) + sum(
            c.loss for c in content_losses
        )
        loss.backward()
        return loss

    return closure

"""``dlcore.models``: standard network architectures, each a function taking ``num_classes`` (and
``in_channels`` where the input is an image), named as in torchvision where it has the model.

``get_model(name, **kwargs)`` builds one by name (the ``dlcore`` command uses it) and
``list_models()`` lists the names.
"""
from ._registry import get_model, list_models, register_model  # noqa: F401
from .lenet import LeNet5, lenet5  # noqa: F401
from .mlp import MLP, mlp  # noqa: F401
from .alexnet import AlexNet, AlexNetPaper, alexnet, alexnet_paper  # noqa: F401
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn  # noqa: F401
from .googlenet import GoogLeNet, GoogLeNetOutputs, googlenet  # noqa: F401
from .resnet import (  # noqa: F401
    BasicBlock, Bottleneck, CifarResNet, ResNet, resnet18, resnet18_cifar, resnet20, resnet32, resnet34,
    resnet34_cifar, resnet44, resnet50, resnet56, resnet101, resnet110, resnet152, resnext50_32x4d,
)
from .gpt import GPT, GPTConfig, gpt2_medium, gpt2_small, gpt_mini, gpt_nano  # noqa: F401
from .vit import VisionTransformer, vit_b_16, vit_b_32, vit_l_16, vit_small_patch16_224, vit_tiny_patch16_224, vit_tiny_patch4  # noqa: F401,E501
from .bert import (  # noqa: F401
    BertConfig, BertForMaskedLM, BertForNextSentencePrediction, BertForPreTraining, BertForSequenceClassification,
    BertModel, bert_base, bert_large, bert_mini, bert_tiny, mask_tokens,
)
from .rnnlm import RNNLanguageModel, char_gru, char_lstm  # noqa: F401
from .yolo import YOLOv8, yolov8l, yolov8m, yolov8n, yolov8s, yolov8x  # noqa: F401
from .unet import UNet, unet  # noqa: F401
from .vnet import VNet, vnet  # noqa: F401
from .letnet import LETNet, letnet  # noqa: F401

"""Text for the stand-ins: the characters their tokenizers cover and Chinese-like passages and queries.

Texts are drawn with a seed from a fixed word list, so the stand-in datasets and tokenizers are the
same on every machine; where the reference CapRetrieval texts are at hand, their characters join the
vocabularies so real captions tokenize without unknown tokens.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from pathlib import Path

# Everyday words of image captions and web passages: the stand-in datasets are built from these.
WORDS = (
    "图片 显示 一只 小猫 小狗 宠物 动物 男人 女人 孩子 老人 学生 老师 医生 城市 街道 公园 房间 桌子 椅子 "
    "手机 电脑 屏幕 文字 照片 风景 山峰 河流 大海 天空 白云 太阳 月亮 夜晚 早晨 下午 春天 夏天 秋天 冬天 "
    "红色 蓝色 绿色 黄色 白色 黑色 汽车 火车 飞机 自行车 道路 桥梁 建筑 房子 商店 超市 餐厅 美食 米饭 面条 "
    "水果 苹果 香蕉 蔬菜 咖啡 茶杯 书籍 报纸 新闻 公司 市场 经济 政策 教育 学校 大学 考试 比赛 足球 篮球 "
    "运动 跑步 健身 音乐 电影 游戏 旅游 酒店 机场 医院 天气 温度 下雨 下雪 花朵 树木 草地 森林 沙滩 游泳 "
    "朋友 家庭 婚礼 生日 节日 春节 礼物 衣服 鞋子 帽子 眼镜 手表 价格 数据 图表 记录 微信 聊天 功能 更新 "
    "软件 系统 网络 信息 服务 用户 产品 质量 安全 健康 工作 会议 文件 合同 证书 地图 位置 方向 距离 时间"
).split()
PUNCTUATION = "，。、：；！？“”（）《》"


def charset(data_root: Path | None, extra_texts: list[str] = ()) -> list[str]:
    """ASCII, the word list's characters, Chinese punctuation, ``extra_texts``' characters and, where
    ``data_root`` holds CapRetrieval, every character of its texts: sorted, so the order is fixed."""
    chars = set(string.printable.strip()) | set("".join(WORDS)) | set(PUNCTUATION)
    for text in extra_texts:
        chars |= set(text)
    for text in reference_texts(data_root):
        chars |= set(text)
    return sorted(c for c in chars if not c.isspace())


def reference_texts(data_root: Path | None) -> list[str]:
    """The CapRetrieval captions and queries under ``data_root``, or none where it lacks them."""
    folder = Path(data_root) / "CapRetrieval" if data_root else None
    if folder is None or not (folder / "candidates.jsonl").exists():
        return []
    texts = []
    for name, field in (("candidates.jsonl", "text"), ("queries.jsonl", "query")):
        with open(folder / name, encoding="utf-8") as handle:
            texts += [json.loads(line)[field] for line in handle if line.strip()]
    return texts


def digest(chars: list[str]) -> str:
    return hashlib.sha256("".join(chars).encode("utf-8")).hexdigest()[:12]


def sentence(rng: random.Random, words: tuple[int, int]) -> str:
    """A Chinese-like sentence of between ``words[0]`` and ``words[1]`` words, with commas and a full stop."""
    count = rng.randint(*words)
    parts = []
    for index in range(count):
        parts.append(rng.choice(WORDS))
        if index < count - 1 and rng.random() < 0.2:
            parts.append("，")
    return "".join(parts) + "。"


def passages(seed: int, count: int, words: tuple[int, int]) -> list[str]:
    """``count`` distinct sentences drawn with ``seed``."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        found.setdefault(sentence(rng, words))
    return list(found)

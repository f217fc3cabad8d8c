"""What the browser tests share: viewports, the browser to drive, signing in."""

import os
import re
import shutil
import uuid

from playwright.sync_api import expect

from kameng_cli import shop

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 860}
# a shared, busy machine answers slowly at times: wait generously, assert exactly
expect.set_options(timeout=30_000)
CHROMIUM = os.environ.get("KAMENG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def strong_password():
    return f"Kameng-{uuid.uuid4().hex[:12]}-Pw!"


def sign_in(page, username, password):
    page.goto("/login")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(password)
    page.get_by_role("button", name=re.compile("^(登录|Sign in)$")).click()


def signed_in_buyer(suite, page):
    """A new customer, signed in on ``page``; returns their API client too."""
    username, password = f"web_{uuid.uuid4().hex[:10]}", strong_password()
    buyer = shop.Gateway(suite.settings.gateway_url)
    buyer.register(username, password)
    sign_in(page, username, password)
    expect(page.get_by_role("link", name="我的订单")).to_be_visible()
    return buyer.log_in(username, password)


def place_order(buyer, product, quantity=1):
    return buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": quantity}]},
    )

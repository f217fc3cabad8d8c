"""The storefront and the console in a real browser (Debian's Chromium, headless) on the real suite.

Each test also fails on any error the page's scripts raise or log, and on any 5xx answer. The
screenshots of the main pages go to docs/screenshots/, which the README links.
"""

import re
import time
import uuid
from pathlib import Path

import eventlet.patcher
import pytest
from playwright.sync_api import expect

from kameng_cli import shop
from tests.browser.browsing import DESKTOP, PHONE, place_order, sign_in, signed_in_buyer, strong_password

if eventlet.patcher.is_monkey_patched("socket"):
    pytest.skip(
        "Playwright hangs under eventlet's patch: scripts/run-tests.sh runs these with -p no:kameng",
        allow_module_level=True,
    )

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_buyer_signs_up_buys_a_card_and_reads_it(
    suite, open_page, card_product, pay_with_mockpay, viewport
):
    product, cards = card_product(1, price=1990)
    page = open_page(viewport)
    size = "phone" if viewport is PHONE else "desktop"
    username, password = f"web_{uuid.uuid4().hex[:10]}", strong_password()

    page.goto("/register")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="注册").click()
    expect(page).to_have_url(re.compile(r"/login\?registered=1$"))
    sign_in(page, username, password)
    expect(page.get_by_role("link", name="我的订单")).to_be_visible()

    offer = page.get_by_test_id("product").filter(has_text=product["name"])
    expect(offer.get_by_test_id("stock")).to_have_text("1")
    screenshot(page, f"storefront-{size}")
    offer.get_by_role("button", name="立即购买").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    status = page.get_by_test_id("status")
    expect(status).to_have_attribute("data-status", "awaiting_payment")

    with page.expect_response(re.compile(r"/payments$")) as answered:
        page.locator("[data-method=mockpay]").click()
    payment = answered.value.json()
    assert payment["amount"] == 1990
    # the provider's notification (mockpay has no page of its own): the order page follows by itself
    assert pay_with_mockpay(payment).status_code == 200
    expect(status).to_have_attribute("data-status", "delivered")
    page.get_by_test_id("reveal").click()
    expect(page.get_by_test_id("secret")).to_have_text(cards[0]["secret"])
    page.get_by_role("button", name="复制").click()
    assert page.evaluate("navigator.clipboard.readText()") == f"{cards[0]['number']} {cards[0]['secret']}"
    expect(page.get_by_role("button", name="已复制")).to_be_visible()
    screenshot(page, f"order-delivered-{size}")

    page.get_by_role("link", name="我的订单").click()
    expect(page.get_by_test_id("order-row")).to_have_count(1)
    page.get_by_role("button", name="English").click()
    expect(page.get_by_test_id("order-row")).to_contain_text("Delivered")


def test_bad_input_is_shown_next_to_its_field(open_page):
    page = open_page(PHONE)
    page.goto("/register")
    page.get_by_label("用户名").fill(f"web_{uuid.uuid4().hex[:10]}")
    page.get_by_label("密码").fill("short")
    page.get_by_role("button", name="注册").click()
    expect(page.get_by_test_id("password-error")).not_to_be_empty()
    expect(page.get_by_label("密码")).to_have_attribute("aria-invalid", "true")


def test_an_ops_user_imports_cards_and_sees_the_stock_change(suite, open_page, staff, card_product):
    product, _cards = card_product(2)
    username, password = f"ops_{uuid.uuid4().hex[:8]}", strong_password()
    staff.request(
        "POST", "/api/v1/admin/staff", json={"username": username, "password": password, "role": "ops"}
    )
    page = open_page(DESKTOP)
    sign_in(page, username, password)
    expect(page).to_have_url(re.compile(r"/admin$"))
    expect(page.get_by_test_id("menu-staff")).to_have_count(0)
    screenshot(page, "console-dashboard")

    page.get_by_test_id("menu-products").click()
    expect(page.get_by_test_id(f"stock-{product['id']}")).to_have_text("2")
    page.get_by_test_id(f"import-{product['id']}").click()
    lines = "\n".join(f"W{uuid.uuid4().hex[:12]} S{uuid.uuid4().hex}" for _ in range(3))
    page.get_by_role("textbox", name=re.compile("导入卡密")).fill(lines)
    page.get_by_test_id("upload").click()
    expect(page.get_by_test_id("imported")).to_have_text("3")
    expect(page.get_by_test_id("import-progress")).to_contain_text("100%")
    screenshot(page, "console-import")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id(f"stock-{product['id']}")).to_have_text("5")


def test_each_role_sees_only_its_pages(suite, open_page, staff):
    username, password = f"support_{uuid.uuid4().hex[:8]}", strong_password()
    staff.request(
        "POST", "/api/v1/admin/staff", json={"username": username, "password": password, "role": "support"}
    )
    page = open_page(DESKTOP)
    sign_in(page, username, password)
    expect(page.get_by_test_id("menu-orders")).to_be_visible()
    expect(page.get_by_test_id("menu-products")).to_have_count(0)
    expect(page.get_by_test_id("menu-staff")).to_have_count(0)
    page.goto("/admin/staff")
    expect(page.get_by_text("此角色无权访问该页面")).to_be_visible()
    # the server refuses it anyway
    support = shop.Gateway(suite.settings.gateway_url).log_in(username, password)
    support.request(
        "POST",
        "/api/v1/admin/staff",
        json={"username": "x_" + username, "password": password, "role": "admin"},
        expected=(403,),
    )


@pytest.mark.parametrize("method", ["alipay", "wechat", "unionpay"])
def test_a_buyer_pays_through_each_providers_sandbox_page(suite, open_page, card_product, method):
    product, cards = card_product(1, price=880)
    page = open_page(DESKTOP)
    buyer = signed_in_buyer(suite, page)
    order = shop.wait_for_status(buyer, place_order(buyer, product)["id"], {"awaiting_payment"})
    page.goto(f"/orders/{order['id']}")
    status = page.get_by_test_id("status")
    expect(status).to_have_attribute("data-status", "awaiting_payment")

    if method == "wechat":
        page.locator("[data-method=wechat]").click()
        # the native-pay code as a QR code for a phone, drawn in the page
        expect(page.get_by_test_id("qr-code")).to_be_visible()
        assert page.get_by_test_id("qr-code").get_attribute("src").startswith("data:image/png;base64,")
        screenshot(page, "order-wechat-qr")
        with page.expect_popup() as opened:
            page.locator("a[href*='/wechat/']").click()
    else:
        with page.expect_popup() as opened:
            page.locator(f"[data-method={method}]").click()
    sandbox = opened.value
    sandbox.get_by_role("button", name="pay").click()
    expect(sandbox.get_by_role("heading")).to_contain_text("paid")
    sandbox.close()

    expect(status).to_have_attribute("data-status", "delivered")
    page.get_by_test_id("reveal").click()
    expect(page.get_by_test_id("secret")).to_have_text(cards[0]["secret"])


def test_a_buyer_tops_up_the_wallet_through_the_sandbox(suite, open_page):
    page = open_page(PHONE)
    signed_in_buyer(suite, page)
    page.get_by_role("link", name="钱包").click()
    expect(page.get_by_test_id("balance")).to_have_text("¥0.00")
    page.get_by_label(re.compile("金额")).fill("12.5")
    with page.expect_popup() as opened:
        page.locator("[data-method=alipay]").click()
    opened.value.get_by_role("button", name="pay").click()
    expect(opened.value.get_by_role("heading")).to_contain_text("paid")
    page.reload()
    expect(page.get_by_test_id("balance")).to_have_text("¥12.50")
    screenshot(page, "wallet-phone")


def test_support_approves_a_held_order_and_sees_no_secret_nor_refund(
    suite, open_page, staff_member, card_product
):
    product, cards = card_product(1, price=600_000)  # over risk's review amount: held
    buyer = shop.Gateway(suite.settings.gateway_url)
    username, password = f"big_{uuid.uuid4().hex[:10]}", strong_password()
    buyer.register(username, password)
    buyer = buyer.log_in(username, password)
    order = shop.wait_for_status(buyer, place_order(buyer, product)["id"], {"on_hold"})
    assert order["status"] == "on_hold"

    page = open_page(DESKTOP)
    sign_in(page, *staff_member("support"))
    page.get_by_test_id("menu-reviews").click()
    page.get_by_test_id(f"approve-{order['id']}").click()
    page.locator("input[name=reason]").fill("called the buyer: a genuine order")
    screenshot(page, "console-review")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id(f"approve-{order['id']}")).to_have_count(0)
    assert shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})["status"] == "awaiting_payment"

    page.get_by_test_id("menu-orders").click()
    expect(page.get_by_test_id("orders")).to_contain_text(order["id"][:8])
    expect(page.get_by_role("button", name=re.compile("退款|Refund"))).to_have_count(0)
    assert cards[0]["secret"] not in page.content()


def test_an_auditor_verifies_the_audit_log(suite, open_page, staff_member):
    page = open_page(DESKTOP)
    sign_in(page, *staff_member("auditor"))
    page.get_by_test_id("menu-auditLog").click()
    expect(page.get_by_test_id("audit-log")).to_contain_text("staff")
    page.get_by_test_id("verify").click()
    expect(page.get_by_test_id("verification")).to_contain_text("哈希链完整")
    screenshot(page, "console-audit-log")
    expect(page.get_by_test_id("menu-products")).to_have_count(0)


def test_a_finance_user_refunds_a_delivered_order_to_the_wallet(
    suite, open_page, staff_member, card_product, api_buyer, delivered_order
):
    product, _cards = card_product(1, price=1200)
    buyer = api_buyer("refundee")
    order = delivered_order(buyer, product)

    page = open_page(DESKTOP)
    sign_in(page, *staff_member("finance"))
    page.get_by_test_id("menu-orders").click()
    # the buyer quotes the order's id; the search finds it, timeline and all
    page.locator("input[name=order-id]").fill(order["id"])
    page.locator("input[name=order-id]").press("Enter")
    expect(page.get_by_test_id("orders").locator("tbody > tr.el-table__row")).to_have_count(1)
    page.get_by_test_id(f"refund-{order['id']}").click()
    page.locator(".el-dialog .el-select").click()
    page.get_by_role("option", name="余额").click()
    page.locator("input[name=refund-reason]").fill("the buyer asked: card not needed")
    with page.expect_response(re.compile(r"/refunds$")) as answered:
        page.get_by_test_id("confirm-refund").click()
    assert answered.value.status == 201, answered.value.text()
    expect(page.get_by_test_id("refund-done")).to_be_visible()
    screenshot(page, "console-refund")
    wallet = buyer.request("GET", "/api/v1/me/wallet")
    for _ in range(60):  # the refund is booked by payments, then credited
        if wallet["balance"]:
            break
        time.sleep(0.5)
        wallet = buyer.request("GET", "/api/v1/me/wallet")
    assert wallet["balance"] == 1200
    page.keyboard.press("Escape")
    page.get_by_test_id("menu-refunds").click()
    expect(page.get_by_test_id("refunds")).to_contain_text(order["id"][:8])


def test_support_comments_on_a_refund_request_and_finance_approves_it_to_the_wallet(
    suite, open_page, staff_member, card_product, api_buyer, delivered_order
):
    product, _cards = card_product(1, price=900)
    buyer = api_buyer("asker")
    order = delivered_order(buyer, product)
    ticket = buyer.request(
        "POST", f"/api/v1/orders/{order['id']}/refund-requests", json={"reason": "the code was already used"}
    )

    page = open_page(DESKTOP)
    sign_in(page, *staff_member("support"))
    page.get_by_test_id("menu-refundRequests").click()
    expect(page.get_by_test_id("refund-requests")).to_contain_text("the code was already used")
    # support may reject, never approve
    expect(page.get_by_test_id(f"approve-{ticket['id']}")).to_have_count(0)
    page.get_by_test_id(f"comment-{ticket['id']}").click()
    page.locator("input[name=text]").fill("asked the supplier")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("refund-requests")).to_contain_text("asked the supplier")

    page = open_page(DESKTOP)
    sign_in(page, *staff_member("finance"))
    page.get_by_test_id("menu-refundRequests").click()
    page.get_by_test_id(f"approve-{ticket['id']}").click()
    page.locator(".el-dialog .el-select").click()
    page.get_by_role("option", name="余额").click()
    page.locator("input[name=text]").fill("the supplier confirms")
    with page.expect_response(re.compile(r"/decision$")) as answered:
        page.get_by_test_id("confirm").click()
    assert answered.value.status == 200, answered.value.text()
    screenshot(page, "console-refund-request")
    expect(page.get_by_test_id(f"approve-{ticket['id']}")).to_have_count(0)
    wallet = buyer.request("GET", "/api/v1/me/wallet")
    assert wallet["balance"] == 900


def test_ops_blacklists_a_device_and_takes_it_off_again(suite, open_page, staff_member):
    device = f"dev-{uuid.uuid4().hex[:12]}"
    page = open_page(DESKTOP)
    sign_in(page, *staff_member("ops"))
    page.get_by_test_id("menu-blacklist").click()
    page.get_by_role("button", name="加入黑名单").click()
    dialog = page.locator(".el-dialog")
    dialog.locator(".el-select").click()
    page.get_by_role("option", name="设备").click()
    dialog.locator("input[name=value]").fill(device)
    dialog.locator("input[name=reason]").fill("chargebacks from this phone")
    dialog.get_by_role("button", name="创建").click()
    row = page.get_by_test_id("blacklist").locator("tr").filter(has_text=device)
    expect(row).to_contain_text("chargebacks from this phone")
    screenshot(page, "console-blacklist")
    row.get_by_role("button", name="移出").click()
    page.locator(".el-popconfirm").get_by_role("button").last.click()
    expect(page.get_by_test_id("blacklist")).not_to_contain_text(device)


def test_support_tags_a_customer_and_finds_them_by_the_tag(suite, open_page, staff_member):
    username = f"tagged_{uuid.uuid4().hex[:8]}"
    shop.Gateway(suite.settings.gateway_url).register(username, strong_password())
    tag = f"reseller-{uuid.uuid4().hex[:6]}"
    page = open_page(DESKTOP)
    sign_in(page, *staff_member("support"))
    page.get_by_test_id("menu-customers").click()
    page.get_by_test_id("customers").locator("tr").filter(has_text=username).click()
    tags = page.get_by_test_id("customer-tags")
    expect(tags).to_contain_text("new")  # computed: registered lately
    page.locator("input[name=tag]").fill(tag)
    page.get_by_role("button", name="添加标签").click()
    expect(tags).to_contain_text(tag)
    page.locator(".el-drawer__close-btn").click()
    page.locator(".toolbar .el-select").first.click()
    page.get_by_role("option", name=f"{tag} (1)").click()
    rows = page.get_by_test_id("customers").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(username)


def test_an_agent_sets_up_a_shop_whose_page_lists_their_prices(suite, open_page, staff, card_product):
    agent_name, password = f"shopper_{uuid.uuid4().hex[:8]}", strong_password()
    customer = shop.Gateway(suite.settings.gateway_url).register(agent_name, password)
    agent = staff.request("POST", "/api/v1/admin/agents", json={"customer_id": customer["id"]})
    product, _cards = card_product(1, price=1000)
    slug = f"shop-{uuid.uuid4().hex[:8]}"

    page = open_page(DESKTOP)
    sign_in(page, agent_name, password)
    page.get_by_role("link", name="代理中心").click()
    page.locator("input[name=shop-name]").fill("Night market")
    page.locator("input[name=shop-slug]").fill(slug)
    page.locator("input[name=shop-markup]").fill("12.5")
    page.get_by_role("button", name="保存").click()
    page.get_by_test_id("shop-link").get_by_role("link").click()

    expect(page.get_by_test_id("shop-name")).to_have_text("Night market")
    card = page.get_by_test_id("product").filter(has_text=product["name"])
    expect(card).to_contain_text("11.25")  # the agent price, 10.00, and 12.5 % on it
    page.get_by_role("link", name="注册成为本店会员").click()
    expect(page.get_by_label("邀请码（选填）")).to_have_value(agent["invite_code"])


def test_a_buyer_buys_through_an_agents_shop_at_its_price_and_the_agent_sees_the_markup_earned(
    suite, open_page, staff, card_product, pay_with_mockpay
):
    agent_name, agent_password = f"keeper_{uuid.uuid4().hex[:8]}", strong_password()
    customer = shop.Gateway(suite.settings.gateway_url).register(agent_name, agent_password)
    staff.request("POST", "/api/v1/admin/agents", json={"customer_id": customer["id"]})
    keeper = shop.Gateway(suite.settings.gateway_url).log_in(agent_name, agent_password)
    slug = f"shop-{uuid.uuid4().hex[:8]}"
    keeper.request("PUT", "/api/v1/agent/shop", json={"slug": slug, "name": "Corner shop", "markup_bp": 1250})
    product, _cards = card_product(1, price=1000)
    staff.request("PATCH", f"/api/v1/admin/products/{product['id']}", json={"level_prices": {"agent": 800}})
    buyer_name, buyer_password = f"web_{uuid.uuid4().hex[:10]}", strong_password()
    shop.Gateway(suite.settings.gateway_url).register(buyer_name, buyer_password)

    page = open_page(PHONE)
    page.goto(f"/s/{slug}")
    offer = page.get_by_test_id("product").filter(has_text=product["name"])
    expect(offer).to_contain_text("9.00")  # the agent price, 8.00, and 12.5 % on it
    offer.get_by_role("button", name="立即购买").click()
    # signing in first brings the buyer back to the shop
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("用户名").fill(buyer_name)
    page.get_by_label("密码").fill(buyer_password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(f"/s/{slug}$"))
    page.get_by_test_id("product").filter(has_text=product["name"]).get_by_role(
        "button", name="立即购买"
    ).click()

    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    order_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("order-shop")).to_contain_text(slug)
    status = page.get_by_test_id("status")
    expect(status).to_have_attribute("data-status", "awaiting_payment")
    with page.expect_response(re.compile(r"/payments$")) as answered:
        page.locator("[data-method=mockpay]").click()
    payment = answered.value.json()
    assert payment["amount"] == 900
    assert pay_with_mockpay(payment).status_code == 200
    expect(status).to_have_attribute("data-status", "delivered")
    screenshot(page, "storefront-shop-order-phone")

    # customers credits the markup once it hears of the delivery
    deadline = time.monotonic() + 60
    while not any(
        entry["kind"] == "markup" for entry in keeper.request("GET", "/api/v1/agent/earnings")["entries"]
    ):
        assert time.monotonic() < deadline, "the agent was never credited the markup"
        time.sleep(0.5)
    agent_page = open_page(DESKTOP)
    sign_in(agent_page, agent_name, agent_password)
    agent_page.get_by_role("link", name="代理中心").click()
    earned = agent_page.get_by_test_id("agent-entries").get_by_role("row").filter(has_text="加价收益")
    expect(earned).to_have_count(1)
    expect(earned).to_contain_text("1.00")
    expect(earned.get_by_test_id("entry-order")).to_have_text(order_id[:8])


def test_an_agent_shares_the_invite_link_and_sees_the_new_buyer_below(suite, open_page, staff):
    agent_name, password = f"agent_{uuid.uuid4().hex[:8]}", strong_password()
    customer = shop.Gateway(suite.settings.gateway_url).register(agent_name, password)
    agent = staff.request("POST", "/api/v1/admin/agents", json={"customer_id": customer["id"]})

    page = open_page(PHONE)
    sign_in(page, agent_name, password)
    page.get_by_role("link", name="代理中心").click()
    expect(page.get_by_test_id("invite-code")).to_have_text(agent["invite_code"])
    invite_link = page.get_by_test_id("invite-link").inner_text()
    expect(page.get_by_test_id("earnings-available")).to_contain_text("0.00")

    invited = open_page(PHONE)
    invitee = f"invitee_{uuid.uuid4().hex[:8]}"
    invited.goto(invite_link)
    expect(invited.get_by_label("邀请码（选填）")).to_have_value(agent["invite_code"])
    invited.get_by_label("用户名").fill(invitee)
    invited.get_by_label("密码").fill(strong_password())
    invited.get_by_role("button", name="注册").click()
    expect(invited).to_have_url(re.compile(r"/login\?registered=1$"))

    # another agent's invitee is not in this agent's downline
    other_name = f"other_{uuid.uuid4().hex[:8]}"
    other = shop.Gateway(suite.settings.gateway_url).register(other_name, strong_password())
    other_agent = staff.request("POST", "/api/v1/admin/agents", json={"customer_id": other["id"]})
    stranger = f"stranger_{uuid.uuid4().hex[:8]}"
    shop.Gateway(suite.settings.gateway_url).request(
        "POST",
        "/api/v1/auth/register",
        expected=(201,),
        json={"username": stranger, "password": strong_password(), "invite_code": other_agent["invite_code"]},
    )

    page.reload()
    expect(page.get_by_test_id("downline")).to_contain_text(invitee)
    expect(page.get_by_test_id("downline")).not_to_contain_text(stranger)
    expect(page.get_by_test_id("downline")).not_to_contain_text(other_name)
    screenshot(page, "storefront-agent-phone")
    # asking for more than is available is refused next to the form
    page.locator("input[name=amount]").fill("10")
    page.locator("input[name=account]").fill("alipay:agent@example.com")
    page.get_by_role("button", name="申请提现").click()
    expect(page.get_by_role("alert")).to_be_visible()


def test_a_plain_buyer_sees_no_agent_page(suite, open_page):
    page = open_page(PHONE)
    signed_in_buyer(suite, page)
    expect(page.get_by_role("link", name="代理中心")).to_have_count(0)
    page.goto("/agent")
    expect(page.get_by_role("status")).to_contain_text("您还不是代理")


def test_finance_reads_the_ledger_and_reconciles_a_statement(
    suite, open_page, staff_member, card_product, api_buyer, delivered_order
):
    product, _cards = card_product(1, price=1500)
    delivered_order(api_buyer("ledger"), product)

    page = open_page(DESKTOP)
    sign_in(page, *staff_member("finance"))
    # the dashboard's money charts come from the finance summary
    expect(page.get_by_text("近 14 天营业额与净收入")).to_be_visible()
    expect(page.get_by_text("近 14 天各支付渠道营业额")).to_be_visible()
    expect(page.get_by_text("近 14 天各支付渠道支付成功率")).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, "console-dashboard-finance")
    page.get_by_test_id("menu-finance").click()
    page.get_by_role("textbox", name="账户").fill("provider:mockpay")
    page.get_by_role("button", name="刷新").click()
    expect(page.get_by_test_id("ledger")).to_contain_text("15.00")
    with page.expect_download() as downloaded:
        page.get_by_test_id("export-csv").click()
    exported = Path(downloaded.value.path()).read_text()
    assert exported.startswith("id,at,transaction_id,kind,reference,account,currency,amount")
    assert "provider:mockpay" in exported

    page.get_by_role("tab", name="对账").click()
    page.get_by_placeholder("粘贴或选择渠道的日对账单（CSV）").fill("this is not a statement\n")
    page.get_by_role("button", name="对账").last.click()
    expect(page.get_by_test_id("reconciliation").or_(page.locator(".el-alert--error"))).to_be_visible()
    screenshot(page, "console-finance")


def test_ops_reprices_a_product_takes_it_off_sale_and_voids_a_card(
    suite, open_page, staff_member, card_product
):
    product, cards = card_product(2, price=1000)
    page = open_page(DESKTOP)
    sign_in(page, *staff_member("ops"))
    page.get_by_test_id("menu-products").click()
    page.get_by_test_id(f"edit-{product['id']}").click()
    dialog = page.locator(".el-dialog").filter(has_text=product["name"])
    dialog.locator("input[name=edit-price]").fill("12.50")
    dialog.locator("input[name=edit-level-prices]").fill("not json")
    dialog.get_by_test_id("save-product").click()
    expect(dialog).to_contain_text("JSON")
    dialog.locator("input[name=edit-level-prices]").fill('{"vip": 1100}')
    dialog.get_by_test_id("on-sale").click()
    dialog.get_by_test_id("save-product").click()
    expect(page.get_by_test_id(f"status-{product['id']}")).to_have_text("已下架")
    # buyers no longer see it
    listed = shop.Gateway(suite.settings.gateway_url).request(
        "GET", "/api/v1/products", params={"limit": 100}
    )
    assert product["id"] not in [each["id"] for each in listed["items"]]

    page.get_by_test_id(f"details-{product['id']}").click()
    card_row = page.get_by_test_id("cards").locator("tr").filter(has_text=cards[0]["number"])
    card_row.get_by_role("button", name="作废").click()
    expect(card_row).to_contain_text("已作废")
    expect(page.get_by_test_id(f"stock-{product['id']}")).to_have_text("1")
    page.get_by_role("tab", name="价格历史").click()
    expect(page.get_by_test_id("price-history")).to_contain_text("12.50")
    screenshot(page, "console-product")
    assert cards[0]["secret"] not in page.content()


def tab_to(page, target, most=80):
    """Press Tab until ``target`` has the focus, as a keyboard user would; fails if it never does."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} never got the focus in {most} presses of Tab")


def test_a_buyer_buys_and_reads_a_card_with_the_keyboard_alone(
    suite, open_page, card_product, pay_with_mockpay
):
    product, cards = card_product(1, price=880)
    page = open_page(DESKTOP)
    username, password = f"keys_{uuid.uuid4().hex[:8]}", strong_password()
    shop.Gateway(suite.settings.gateway_url).register(username, password)

    page.goto("/login")
    tab_to(page, page.get_by_label("用户名"))
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="我的订单")).to_be_visible()

    offer = page.get_by_test_id("product").filter(has_text=product["name"])
    tab_to(page, offer.get_by_role("button", name="立即购买"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    tab_to(page, page.locator("[data-method=mockpay]"))
    with page.expect_response(re.compile(r"/payments$")) as answered:
        page.keyboard.press("Enter")
    assert pay_with_mockpay(answered.value.json()).status_code == 200
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "delivered")
    tab_to(page, page.get_by_test_id("reveal"))
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("secret")).to_have_text(cards[0]["secret"])


def test_a_buyer_asks_for_a_refund_from_the_order_page(suite, open_page, card_product, delivered_order):
    product, _cards = card_product(1, price=700)
    page = open_page(PHONE)
    buyer = signed_in_buyer(suite, page)
    order = delivered_order(buyer, product)

    page.goto(f"/orders/{order['id']}")
    page.get_by_test_id("ask-refund").click()
    page.get_by_label("退款原因").fill("the code was already used")
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_test_id("refund-requested")).to_be_visible()
    # the ticket reaches the order's history through payments' event
    for _ in range(60):
        history = buyer.request("GET", f"/api/v1/orders/{order['id']}")["history"]
        if any("the code was already used" in (step.get("reason") or "") for step in history):
            break
        time.sleep(0.5)
    page.reload()
    expect(page.locator("ol.steps")).to_contain_text("the code was already used")
    screenshot(page, "order-refund-request-phone")


def test_ops_sees_a_low_product_to_restock_and_lowers_its_threshold(
    suite, open_page, staff_member, card_product
):
    product, _cards = card_product(2)  # under the default threshold of 10
    page = open_page(DESKTOP)
    sign_in(page, *staff_member("ops"))
    page.get_by_test_id("menu-restock").click()
    expect(page.get_by_test_id(f"low-{product['id']}")).to_be_visible()
    expect(page.get_by_test_id(f"threshold-{product['id']}")).to_have_text("10")
    page.get_by_test_id(f"set-threshold-{product['id']}").click()
    page.get_by_role("spinbutton").fill("2")
    page.get_by_test_id("save-threshold").click()
    expect(page.get_by_test_id(f"threshold-{product['id']}")).to_have_text("2")
    expect(page.get_by_test_id(f"low-{product['id']}")).to_have_count(0)


def test_ops_makes_and_issues_a_coupon_and_the_buyer_pays_less_with_it(
    suite, open_page, staff_member, card_product
):
    product, _cards = card_product(1, price=1990)
    code = f"WEB{uuid.uuid4().hex[:8].upper()}"
    console = open_page(DESKTOP)
    sign_in(console, *staff_member("ops"))
    console.get_by_test_id("menu-coupons").click()
    console.get_by_role("button", name="新建优惠券").click()
    creating = console.locator(".el-dialog").filter(has_text="新建优惠券")
    creating.locator("input[name=code]").fill(code)
    creating.get_by_text("公开券码").locator("..").locator(".el-switch").click()  # issued only
    creating.get_by_role("button", name="创建").click()
    row = console.get_by_test_id("coupons").locator("tr").filter(has_text=code)
    expect(row).to_contain_text("定向发放")
    screenshot(console, "console-coupons")

    store = open_page(DESKTOP)
    buyer = signed_in_buyer(suite, store)
    row.get_by_role("button", name="发放").click()
    issuing = console.locator(".el-dialog").filter(has_text=code)
    issuing.locator("textarea[name=customer_ids]").fill(buyer.request("GET", "/api/v1/me")["id"])
    issuing.get_by_role("button", name="发放").click()
    expect(console.get_by_test_id("issued")).to_contain_text("1")

    store.goto("/")
    expect(store.get_by_test_id("my-coupons")).to_contain_text(code)
    offer = store.get_by_test_id("product").filter(has_text=product["name"])
    offer.locator("input[name=coupon_code]").fill(code.lower())
    offer.get_by_role("button", name="立即购买").click()
    expect(store).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    expect(store.get_by_test_id("discount")).to_contain_text(code)
    expect(store.get_by_test_id("status")).to_have_attribute("data-status", "awaiting_payment")
    expect(store.locator(".price").first).to_contain_text("9.90")


def test_an_admin_disables_a_staff_member_who_is_out_at_once(suite, open_page, staff_member):
    username, password = staff_member("support")
    support = shop.Gateway(suite.settings.gateway_url).log_in(username, password)
    page = open_page(DESKTOP)
    sign_in(page, *suite.admin)
    page.get_by_test_id("menu-staff").click()

    row = page.get_by_test_id("staff").locator("tr").filter(has_text=username)
    expect(row).to_contain_text("正常")
    row.get_by_role("button", name="停用").click()
    page.locator(".el-popconfirm").get_by_role("button").last.click()

    expect(row).to_contain_text("已停用")
    support.request("GET", "/api/v1/me", expected=(401,))
    row.get_by_role("button", name="启用").click()
    expect(row).to_contain_text("正常")
    shop.Gateway(suite.settings.gateway_url).log_in(username, password)


def test_ops_adds_a_membership_level_and_is_told_what_is_wrong_with_a_bad_one(
    suite, open_page, staff, staff_member
):
    before = staff.request("GET", "/api/v1/admin/levels")["levels"]
    page = open_page(DESKTOP)
    sign_in(page, *staff_member("ops"))
    page.get_by_test_id("menu-levels").click()
    expect(page.get_by_test_id("levels").locator("tbody tr")).to_have_count(len(before))
    try:
        page.get_by_role("button", name="添加等级").click()
        new_row = len(before)
        page.locator(f"input[name=level-name-{new_row}]").fill("Bad Name")
        page.get_by_test_id("save-levels").click()
        expect(page.get_by_test_id("levels")).to_contain_text("String does not match")
        page.locator(f"input[name=level-name-{new_row}]").fill("browser_gold")
        page.locator(f"input[name=level-threshold-{new_row}]").fill("99999")
        page.get_by_test_id("save-levels").click()
        expect(page.get_by_test_id("levels-saved")).to_be_visible()
        levels = staff.request("GET", "/api/v1/admin/levels")["levels"]
        assert levels[-1] == {"name": "browser_gold", "threshold": 9_999_900}
        screenshot(page, "console-levels")
    finally:
        staff.request("PUT", "/api/v1/admin/levels", json={"levels": before})


def test_the_storefront_loads_none_of_the_consoles_libraries(suite, open_page, card_product):
    card_product(1)
    page = open_page(PHONE)
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto("/")
    expect(page.get_by_test_id("product").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    scripts = [url for url in asked if "/assets/" in url]
    assert scripts, asked
    assert not [url for url in scripts if "console-ui" in url or "charts" in url], scripts

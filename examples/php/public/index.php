<?php
// The PHP half: PHP's own Redis session handler (phpredis), with its locking on. Run it with
//   php -d session.save_handler=redis -d session.save_path=tcp://127.0.0.1:6379 \
//       -d redis.session.locking_enabled=1 -S 127.0.0.1:8080 -t examples/php/public
declare(strict_types=1);
session_start();
if (isset($_GET['login'])) {
    session_regenerate_id(true); // a new id at sign-in
    $_SESSION['user'] = (string) $_GET['login'];
    $_SESSION['since'] = 3.0; // stays a float: Node writes it back as PHP wrote it
} elseif (isset($_GET['logout'])) {
    session_destroy();
    $_SESSION = [];
}
$user = htmlspecialchars($_SESSION['user'] ?? 'nobody');
$basket = htmlspecialchars(implode(', ', $_SESSION['basket'] ?? []));
echo "<!doctype html><title>PHP half</title>\n";
echo "<p>Signed in (by PHP) as <b id=\"user\">$user</b>.</p>\n";
echo "<p>Basket (filled by Koa): <span id=\"basket\">$basket</span></p>\n";
echo "<p><a href=\"?login=ada\">Sign in as ada</a> · <a href=\"?logout=1\">Sign out</a></p>\n";
